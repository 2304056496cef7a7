"""Registry authentication: WWW-Authenticate challenges, Basic, and Bearer tokens.

The token flow is Docker's (distribution's docs/spec/auth/token.md): a 401
names a realm, a service and a scope; the client asks the realm for a token
(with Basic credentials, or anonymously), then repeats the request with it.
Tokens are cached per scope until they expire.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from wharfie.errors import AuthError
from wharfie.transports.registry.credentials import Credentials
from wharfie.transports.registry.http import HTTPError, Pool
from wharfie.transports.registry.responses import read_reply

TOKEN_TRIES = 4  # a token request is sent again when the connection fails, at once

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value: ``Bearer realm="...",service="...",scope="..."``."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {}
    for m in _PARAM.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
    return Challenge(scheme.lower(), params)


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def scope_for(repo: str, actions: str) -> str:
    """``repository:NAME:pull,push`` as the token spec writes scopes."""
    return f"repository:{repo}:{actions}"


class TokenCache:
    """Bearer tokens by scope, with their expiry; thread-safe, one fetch per scope at a time."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, scope: str) -> str | None:
        with self._lock:
            hit = self._tokens.get(scope)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, scope: str, token: str, expires_in: float) -> None:
        with self._lock:
            # Renew a little early so a token never expires in flight.
            self._tokens[scope] = (token, time.monotonic() + max(expires_in - 10, 1))

    def drop(self, scope: str) -> None:
        with self._lock:
            self._tokens.pop(scope, None)


def fetch_token(pool: Pool, challenge: Challenge, scopes: list[str],
                creds: Credentials | None, host: str) -> tuple[str, float]:
    """Ask the challenge's realm for a token covering ``scopes``. Returns (token, expires_in)."""
    realm = challenge.params.get("realm")
    if not realm or not realm.startswith(("http://", "https://")):
        raise AuthError(f"{host}: bearer challenge without a usable realm")
    query: list[tuple[str, str]] = []
    if challenge.params.get("service"):
        query.append(("service", challenge.params["service"]))
    query += [("scope", s) for s in scopes]
    headers = {"User-Agent": "wharfie"}
    if creds and creds.identity_token:
        form = query + [("grant_type", "refresh_token"), ("client_id", "wharfie"),
                        ("refresh_token", creds.identity_token)]
        method, url, body = "POST", realm, urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        if creds:
            headers["Authorization"] = basic_header(creds)
            query.append(("account", creds.username))
        method, body = "GET", None
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
    for attempt in range(TOKEN_TRIES):
        try:
            reply = read_reply(pool.request(method, url, headers=headers, body=body))
            break
        except HTTPError as e:
            if attempt == TOKEN_TRIES - 1:
                raise AuthError(f"{host}: cannot reach the token server {realm}: {e}") from None
    if reply.status in (401, 403):
        raise AuthError(f"{host}: unauthorized: the token server refused the credentials"
                        + ("" if creds else "; run `wharfie login " + host + "`"))
    if reply.status != 200:
        raise AuthError(f"{host}: token server {realm} answered HTTP {reply.status}")
    if not reply.complete:
        raise AuthError(f"{host}: token server {realm} answered more than {len(reply.data)} "
                        "bytes")
    try:
        doc = json.loads(reply.data)
        token = doc.get("token") or doc.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not token:
        raise AuthError(f"{host}: token server {realm} returned no token")
    return token, float(doc.get("expires_in") or 60)
