"""The dashboard's session, CSRF tokens and security headers.

A session is a signed cookie (HMAC-SHA256 over its JSON), ``HttpOnly``,
``SameSite=Strict`` and ``Secure`` over HTTPS. It carries a random session id, whether the
visitor gave the API token, and when it was issued; it expires after :data:`SESSION_AGE`.
Every form that changes something carries a CSRF token derived from the session id, so a
page of another site cannot post one. With ``CRONWELL_API_TOKEN`` set the signing key is
derived from the token (sessions survive a restart and work on every instance); without
one the key is random per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

COOKIE = "cronwell_session"
SESSION_AGE = 12 * 3600  # seconds a session lasts
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Session:
    sid: str
    signed_in: bool
    issued: float

    @classmethod
    def new(cls, *, signed_in: bool = False) -> Session:
        return cls(secrets.token_urlsafe(18), signed_in, time.time())


class Sessions:
    """Signs and checks session cookies and CSRF tokens with one key."""

    def __init__(self, token: str | None) -> None:
        if token:
            self._key = hashlib.sha256(b"cronwell-dashboard-session\0" + token.encode()).digest()
        else:
            self._key = secrets.token_bytes(32)

    def dump(self, session: Session) -> str:
        body = json.dumps(
            {"sid": session.sid, "in": session.signed_in, "at": int(session.issued)},
            separators=(",", ":"),
        ).encode()
        data = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{data}.{self._sign(data)}"

    def load(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session of a cookie value; ``None`` when absent, forged or expired."""
        if not value or "." not in value:
            return None
        data, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(data)):
            return None
        try:
            fields: dict[str, Any] = json.loads(
                base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            )
            session = Session(str(fields["sid"]), bool(fields["in"]), float(fields["at"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now or time.time()) - session.issued > SESSION_AGE:
            return None
        return session

    def csrf(self, session: Session) -> str:
        return self._sign("csrf:" + session.sid)

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf(session))

    def _sign(self, data: str) -> str:
        digest = hmac.new(self._key, data.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (what the dashboard's forms and htmx
    send); the last value of a repeated field wins."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in; anything else (another site) is ``/``."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"
