"""Append-only, hash-chained, Merkle-tree audit log with signed checkpoints."""

from audit.errors import AuditError

__all__ = ["AuditError"]
