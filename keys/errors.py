"""The exception types of the keys package: one opaque error per kind of failure."""


class KeystoreError(Exception):
    """The keystore cannot be opened, read or changed as asked."""


class KeystoreExists(KeystoreError):
    """`Keystore.create` was asked to overwrite an existing keystore file."""


class SealError(Exception):
    """A blob cannot be sealed or unsealed: wrong key, wrong associated data or damaged blob."""


class EnvelopeError(Exception):
    """A public-key seal, signature, key file or delivery cannot be opened, verified or read."""
