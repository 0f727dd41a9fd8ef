"""Who is asking: signed session cookies for the pages, bearer tokens for the API, and CSRF tokens.

The session cookie holds the user id, a per-session CSRF token and a fingerprint of the password hash
(changing the password ends old sessions), signed with a key kept in the data dir. Requests authenticated
by the cookie must send the CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field) on every
unsafe method; bearer-token requests carry no ambient authority and need none.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

logger = logging.getLogger(__name__)

SESSION_COOKIE = "pf_session"
SESSION_MAX_AGE_S = 14 * 24 * 3600
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_secret(data_dir: Path) -> bytes:
    """The signing key in ``<data_dir>/web-secret.key``, created (mode 0600) on first use."""
    path = data_dir / "web-secret.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins when several web processes start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class SessionData:
    """What a valid session cookie says."""

    user_id: int
    csrf: str
    pw: str


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash; a new password invalidates sessions made with the old one."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionCodec:
    """Signs and reads session cookies."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="printfleet-session")

    def dump(self, user_id: int, password_hash: str | None) -> tuple[str, str]:
        """A new cookie value and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        value = self._serializer.dumps({"u": user_id, "c": csrf, "p": password_fingerprint(password_hash)})
        return value, csrf

    def load(self, value: str | None) -> SessionData | None:
        """The session in a cookie value, or ``None`` when missing, forged or expired."""
        if not value:
            return None
        try:
            data: Any = self._serializer.loads(value, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("c"), str):
            return None
        return SessionData(user_id=data["u"], csrf=data["c"], pw=str(data.get("p", "")))


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
