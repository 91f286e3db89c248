"""Append-only, hash-chained, Merkle-tree audit log with signed checkpoints."""
