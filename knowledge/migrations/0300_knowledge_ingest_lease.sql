-- The claim of a version being indexed: a lease row instead of a session advisory lock, so no pooled
-- connection is held for the length of an ingestion. A worker sets lease_owner/lease_until when it
-- starts, renews lease_until while it works and clears both when it stops (indexed, failed, or
-- cancelled at shutdown); a worker that dies lets its lease run out and another one takes over.
ALTER TABLE kb_versions ADD COLUMN lease_owner text;
ALTER TABLE kb_versions ADD COLUMN lease_until timestamptz;
