"""Shared helpers: a signing key and a small, correctly built log with checkpoints."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import sign_checkpoint
from audit.event import GENESIS, Event, leaf_bytes, to_row
from audit.merkle import CompactRange, leaf_hash

ORIGIN = "ttp.test/audit"
KEY_NAME = "ttp.test-audit-v1"
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def make_event(seq: int) -> Event:
    return Event(seq=seq, time=START + timedelta(minutes=seq), actor=f"user{seq % 3}", role="operator",
                 action="batch.import" if seq % 2 else "job.run", batch_id=f"batch-{seq}",
                 key_id="linkage-v1", key_version=1, counts={"rows": seq * 10, "rejected": seq % 4},
                 details={"source": "po"})


def build_log(n: int, key: Ed25519PrivateKey, every: int = 5) -> tuple[list[dict], list[str]]:
    """Rows 1..n and a checkpoint after every `every` events (and at n)."""
    rows, checkpoints, prev, state = [], [], GENESIS, CompactRange()
    for seq in range(1, n + 1):
        event = make_event(seq)
        row = to_row(event, prev)
        prev = bytes.fromhex(row["hash"])
        rows.append(row)
        state.append(leaf_hash(leaf_bytes(event)))
        if seq % every == 0 or seq == n:
            checkpoints.append(sign_checkpoint(ORIGIN, seq, state.root(), START + timedelta(hours=seq), key,
                                               KEY_NAME))
    return rows, checkpoints


@pytest.fixture(scope="session")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
