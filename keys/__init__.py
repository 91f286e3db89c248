"""Keystore and key derivation: per-purpose, versioned keys encrypted at rest."""

from keys.errors import KeystoreError, KeystoreExists, SealError

__all__ = ["KeystoreError", "KeystoreExists", "SealError"]
