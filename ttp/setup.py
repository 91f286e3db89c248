"""`ttp init`: the data directory, the database schema, the keystore and the first operator."""

from __future__ import annotations

from keys.keystore import Keystore, KeystoreExists

from . import auditlog, db
from .app import App, default_user, login_name, read_passphrase
from .credentials import hash_password, validate_new_password
from .errors import TTPError
from .roles import OPERATOR
from .settings import make_data_dir


def initialise(app: App, operator: str | None, password: str | None) -> str:
    """Create everything a fresh installation needs; refuses to overwrite an existing keystore. The first
    operator gets `password` (None: only tokens the caller makes, as the demo does)."""
    settings = app.settings
    if settings.keystore_path.exists():
        raise TTPError(f"a keystore exists already at {settings.keystore_path}: refusing to overwrite it")
    name = operator or default_user() or login_name()
    make_data_dir(settings.data_dir)
    current = db.current_revision(app.engine)
    if current is not None:
        raise TTPError("the database holds a ttp schema already: use another database or data directory")
    if password is not None:
        validate_new_password(password)
    passphrase = read_passphrase(confirm=True)
    db.upgrade(app.engine, settings.database_url)
    try:
        app._keystore = Keystore.create(settings.keystore_path, passphrase)
    except KeystoreExists:
        raise TTPError(f"a keystore exists already at {settings.keystore_path}: refusing to overwrite it") from None
    entries = app._keystore.entries()
    with app.session() as session:
        session.add(db.User(name=name, role=OPERATOR, created_by=name,
                            password_hash=hash_password(password) if password is not None else None))
        session.flush()
        auditlog.append(session, actor=name, role=OPERATOR, action="init",
                        details={"keys": [{"id": e.id, "fingerprint": e.fingerprint} for e in entries]})
    app.checkpoint()
    return name
