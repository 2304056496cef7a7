"""The web interface's session: a signed cookie naming the principal, and CSRF tokens.

The cookie is a JWT signed with the server's token key, with its own audience, so it is
never accepted as an API token nor an API token as a session. Every visitor gets one
(anonymous until login), so every form can carry a CSRF token bound to it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from aiohttp import web

COOKIE = "wharfie_ui"
AUDIENCE = "wharfie-ui"
SESSION_TTL = 8 * 3600


@dataclass(frozen=True)
class Session:
    sid: str
    sub: str = "anonymous"
    kind: str = "anonymous"
    iat: int = 0


class Sessions:
    def __init__(self, key: bytes, *, secure: bool = False) -> None:
        self.key = key
        self.secure = secure  # served over TLS: the cookie is Secure too

    def new(self, sub: str = "anonymous", kind: str = "anonymous") -> Session:
        return Session(secrets.token_urlsafe(18), sub, kind, int(time.time()))

    def read(self, request: web.Request) -> Session | None:
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            claims = jwt.decode(value, self.key, algorithms=["HS256"], audience=AUDIENCE)
            return Session(str(claims["sid"]), str(claims["sub"]), str(claims["kind"]),
                           int(claims["iat"]))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None

    def write(self, response: web.StreamResponse, session: Session) -> None:
        claims = {"sid": session.sid, "sub": session.sub, "kind": session.kind,
                  "iat": session.iat, "exp": session.iat + SESSION_TTL, "aud": AUDIENCE}
        response.set_cookie(COOKIE, jwt.encode(claims, self.key, algorithm="HS256"),
                            path="/ui/", httponly=True, samesite="Strict", secure=self.secure,
                            max_age=SESSION_TTL)

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self.key, b"csrf\0" + session.sid.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: web.Request, session: Session | None, token: str) -> bool:
        """The form's token matches the session, and the browser says the request came from
        this origin (Origin, else Sec-Fetch-Site, when it sends them)."""
        if session is None or not hmac.compare_digest(token, self.csrf_token(session)):
            return False
        origin = request.headers.get("Origin")
        if origin is not None and origin != "null":
            parts = urlsplit(origin)
            if parts.netloc != request.host or parts.scheme != request.scheme:
                return False
        elif origin == "null":
            return False
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def safe_next(value: str | None) -> str:
    """Where to go after login: a path under ``/ui/`` on this server, nothing else (no
    scheme, host, ``//`` or backslash tricks)."""
    if not value or not value.startswith("/ui/") or "\\" in value or "//" in value:
        return "/ui/"
    if any(ord(c) < 0x21 for c in value):
        return "/ui/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or ".." in parts.path.split("/"):
        return "/ui/"
    return value
