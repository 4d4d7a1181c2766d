"""Encryption at rest: the conversation cipher (Fernet, with key rotation) and the re-encryption pass."""

from server.crypto.cipher import SEALED_PREFIX, TextCipher

__all__ = ["SEALED_PREFIX", "TextCipher"]
