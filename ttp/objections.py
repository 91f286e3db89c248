"""The objection register: keyed digests of objected children, and the rows of a delivery it drops at ingest."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from keys.derive import subkey
from linkage.objection import digests, objected
from linkage.pseudonymise import make_features

from . import db
from .app import Acting

TTP_SCHEME = "ttp"  # digests of the TTP's own keying (exports it pseudonymised); supplier-v<N> for deliveries


def register_keys(keystore) -> tuple[bytes, bytes]:
    """The register's two purpose keys, derived from the first linkage key (kept when retired, never rotated
    away), so that a rotation of the linkage key leaves the register valid: (feature key, digest key)."""
    first = min((e for e in keystore.entries() if e.purpose == "linkage"), key=lambda e: e.version)
    base = keystore.secret(first.id)
    return subkey(base, "ttp/objection/features/v1"), subkey(base, "ttp/objection/register/v1")


def objection_features(records: pd.DataFrame, feature_key: bytes) -> pd.DataFrame:
    """Records keyed for the register alone, with ingest's normalisation (no Bloom filters)."""
    return make_features(records, source="objection", secret=feature_key, key_version=1, bloom_filters=False,
                         workers=1)


def register(session, scheme: str) -> set[tuple[str, str]]:
    """The register's (kind, digest) entries of one scheme."""
    rows = session.execute(select(db.Objection.kind, db.Objection.digest).where(db.Objection.scheme == scheme))
    return {(kind, digest) for kind, digest in rows}


def drop_objected(act: Acting, features: pd.DataFrame, scheme: str, records: pd.DataFrame | None = None
                  ) -> pd.Series:
    """Which rows of a chunk the objection register holds (a boolean mask over `features`): for the TTP's own
    ingest the records are keyed for the register, for a delivery the supplier's features are used as they are
    (`scheme` names the suppliers' secret version). All False when the register is empty."""
    entries = act.__dict__.setdefault("_objections", {})
    if scheme not in entries:
        entries[scheme] = register(act.session, scheme)
    held = entries[scheme]
    if not held or len(features) == 0:
        return pd.Series(False, index=features.index)
    feature_key, digest_key = register_keys(act.app.keystore)
    keyed = objection_features(records, feature_key) if records is not None else features
    mask = objected(digests(keyed.set_axis(features.index), digest_key, scheme), held)
    return pd.Series(mask, index=features.index)
