"""Keystore and key derivation: per-purpose, versioned keys encrypted at rest."""
