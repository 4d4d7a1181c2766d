"""Privacy: consent to storing conversations, export and erasure of a user's data, retention."""
