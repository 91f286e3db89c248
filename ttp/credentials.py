"""Passwords as Argon2id hashes (PHC strings) and API tokens stored as SHA-256 of a random secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import db
from .errors import TTPError

# OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane
MEMORY_KIB, ITERATIONS, LANES = 19 * 1024, 2, 1
MIN_LENGTH = 10
TOKEN_PREFIX = "ttp_"


def hash_password(password: str) -> str:
    """An Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) with a random salt."""
    kdf = Argon2id(salt=secrets.token_bytes(16), length=32, iterations=ITERATIONS, lanes=LANES,
                   memory_cost=MEMORY_KIB)
    return kdf.derive_phc_encoded(password.encode("utf-8"))


def check_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash; a user without a password never signs in."""
    if not stored:
        # spend the same time as a real check so a missing password does not show in the timing
        hash_password(password)
        return False
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), stored)
    except (InvalidKey, ValueError):
        return False
    return True


def validate_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise TTPError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > 1024:
        raise TTPError("a password has at most 1024 characters")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_token(session: Session, user_name: str, created_by: str) -> tuple[str, str]:
    """Store a new API token (hashed) for a user; returns (token id, the token shown once)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(db.ApiToken(id=token_id, user_name=user_name, secret_sha256=_sha256(secret),
                            created_by=created_by))
    session.flush()
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}"


def token_user(session: Session, token: str) -> str | None:
    """The user an API token belongs to, or None for an unknown, malformed or revoked token."""
    if not token.startswith(TOKEN_PREFIX) or token.count("_") < 2:
        return None
    token_id, secret = token[len(TOKEN_PREFIX):].split("_", 1)
    row = session.get(db.ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
        return None
    return row.user_name


def revoke_tokens(session: Session, user_name: str) -> int:
    rows = session.scalars(select(db.ApiToken).where(db.ApiToken.user_name == user_name,
                                                     db.ApiToken.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = db.utcnow()
    return len(rows)
