"""The one exception type of the audit package."""


class AuditError(Exception):
    """A malformed, damaged or forged event, proof or checkpoint; the message is one line, never a value."""
