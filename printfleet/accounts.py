"""Users, passwords (argon2) and API bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from printfleet import db
from printfleet.errors import UserError
from printfleet.models import ApiToken, Role, User, utcnow
from printfleet.settings import Settings

USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN_PREFIX = "pf_"
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


@contextmanager
def session(settings: Settings) -> Iterator[Session]:
    """A committing session on a database that is at the current schema.

    Raises:
        UserError: the database has not been migrated (``printfleet db upgrade``).
    """
    sqlite_path = settings.sqlite_path
    if sqlite_path is not None and not sqlite_path.exists():
        raise UserError(
            f"there is no printfleet database at {sqlite_path} ({settings.database_origin()}); "
            "to create a new one there, run 'printfleet db upgrade'"
        )
    engine = db.make_engine(settings.effective_database_url)
    try:
        revision = db.current_revision(engine)
        if revision != db.head_revision():
            raise UserError(
                f"database {db.redact_url(settings.effective_database_url)} is at schema "
                f"{revision or 'none'}; run 'printfleet db upgrade' first"
            )
        with db.session_scope(engine) as s:
            yield s
    finally:
        engine.dispose()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``.

    Raises:
        UserError: the password is too short.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters, please")
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's password."""
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    session: Session,
    *,
    name: str,
    role: str | Role = Role.MAKER,
    password: str | None = None,
    display_name: str = "",
    nickname: str = "",
) -> User:
    """Create a user.

    Raises:
        UserError: the name is malformed or taken, the role unknown, or the password too short.
    """
    if not USER_NAME_PATTERN.match(name):
        raise UserError(f"user name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise UserError(f"user {name!r} already exists")
    user = User(
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        display_name=display_name,
        nickname=nickname or name[:1].upper(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise UserError(f"user {name!r} already exists") from None
    return user


def list_users(session: Session) -> list[User]:
    """All users, by name."""
    return list(session.exec(select(User).order_by(User.name)))


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, user_name: str, name: str) -> str:
    """Create a bearer token acting as ``user_name`` and return it (only its hash is stored).

    Raises:
        UserError: no such user, or the name is empty.
    """
    if not name.strip() or len(name) > 64:
        raise UserError("token name: 1 to 64 characters")
    user = session.exec(select(User).where(User.name == user_name)).first()
    if user is None:
        raise UserError(f"user {user_name!r} does not exist (create it with 'printfleet users add')")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name.strip(), token_sha256=hash_token(token)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token acts as, or ``None``; records its use."""
    row = session.exec(
        select(ApiToken).where(ApiToken.token_sha256 == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    row.last_used_at = utcnow()
    session.add(row)
    return user
