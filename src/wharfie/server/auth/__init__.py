"""Who is asking, and may they: Basic auth, Docker's token flow (JWT with scopes), robots.

With a token key configured, challenges are ``Bearer`` and point at the built-in
token service (``/token``), so docker, podman and skopeo log in unchanged; Basic
credentials are accepted on every request either way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import secrets
import time
from pathlib import Path

import jwt
from aiohttp import web

from wharfie.server.auth.robots import PREFIX as ROBOT_PREFIX
from wharfie.server.auth.robots import Robots
from wharfie.server.auth.users import Htpasswd
from wharfie.server.errors import RegistryError
from wharfie.server.policy import ACTIONS, ANONYMOUS, Policy, Principal

__all__ = ["Access", "OpenAccess", "Principal", "load_token_key"]

TOKEN_TTL = 300


def load_token_key(path: Path) -> bytes:
    """The HMAC key tokens are signed with, created on first use; share the file between
    server processes that serve the same storage."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # first writer wins; everyone then reads the same key
        except FileExistsError:
            pass
        tmp.unlink()
        return path.read_bytes()


class OpenAccess:
    """No authentication configured: everyone may do everything (loopback development)."""

    async def authenticate(self, request: web.Request) -> Principal:
        return ANONYMOUS

    def require_login(self, request: web.Request, principal: Principal,
                      scope: str | None = None) -> None:
        return None

    async def authorize(self, request: web.Request, repo: str, action: str) -> Principal:
        return ANONYMOUS

    def allowed(self, principal: Principal, repo: str, action: str) -> bool:
        return True

    async def may(self, request: web.Request, principal: Principal, repo: str,
                  action: str) -> bool:
        return True

    async def token_endpoint(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"token": "anonymous", "access_token": "anonymous",
                                  "expires_in": TOKEN_TTL})


class Access(OpenAccess):
    def __init__(self, policy: Policy, users: Htpasswd | None = None,
                 robots: Robots | None = None, token_key: bytes | None = None,
                 service: str = "wharfie-registry", token_ttl: int = TOKEN_TTL,
                 realm: str = "/token") -> None:
        self.policy = policy
        self.realm = realm  # configured or from the listen address, never the Host header
        self.users = users
        self.robots = robots
        self.token_key = token_key
        self.service = service
        self.token_ttl = token_ttl

    # ---- credentials ----

    def _challenge(self, request: web.Request, scope: str | None, message: str,
                   error: str | None = None) -> RegistryError:
        if self.token_key:
            value = f'Bearer realm="{self.realm}",service="{self.service}"'
            if scope:
                value += f',scope="{scope}"'
            if error:
                value += f',error="{error}"'
        else:
            value = f'Basic realm="{self.service}"'
        return RegistryError("UNAUTHORIZED", message, {"scope": scope} if scope else None,
                             headers={"WWW-Authenticate": value})

    async def _basic(self, user: str, password: str) -> Principal | None:
        if user.startswith(ROBOT_PREFIX):
            name = user[len(ROBOT_PREFIX):]
            if self.robots and await asyncio.to_thread(self.robots.check, name, password):
                return Principal(user, "robot")
            return None
        if self.users and await asyncio.to_thread(self.users.check, user, password):
            return Principal(user, "user", self.policy.groups_of(user))
        return None

    async def _primary(self, request: web.Request, value: str) -> Principal:
        """The user or robot a Basic ``Authorization`` value proves; 401 if it proves none."""
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise self._challenge(request, None, "malformed credentials") from None
        found = await self._basic(user, password)
        if found is None:
            raise self._challenge(request, None, "authentication required",
                                  "invalid_token" if self.token_key else None)
        return found

    def _revoked(self, claims: dict) -> bool:
        """A token outlives nothing: its user left the htpasswd file, or its robot was
        removed, expired or re-keyed since it was issued (both files are re-read on change)."""
        kind, sub = claims.get("kind", "user"), str(claims.get("sub", ""))
        if kind == "user":
            return self.users is None or not self.users.exists(sub)
        if kind == "robot":
            robot = self.robots.live(sub[len(ROBOT_PREFIX):]) if self.robots else None
            return robot is None or robot.get("created", 0) > claims.get("iat", 0) + 1
        return kind != "anonymous"

    async def authenticate(self, request: web.Request) -> Principal:
        """The principal behind the request's credentials; 401 if they are wrong."""
        cached = request.get("principal")
        if cached is not None:
            return cached
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        principal = ANONYMOUS
        if scheme.lower() == "basic":
            principal = await self._primary(request, value)
        elif scheme.lower() == "bearer" and self.token_key:
            try:
                claims = jwt.decode(value.strip(), self.token_key, algorithms=["HS256"],
                                    audience=self.service, issuer=self.service)
            except jwt.PyJWTError as e:
                raise self._challenge(request, None, f"invalid token: {e}",
                                      "invalid_token") from None
            if self._revoked(claims):
                raise self._challenge(request, None, "token revoked", "invalid_token")
            request["token_access"] = {
                (a.get("type"), a.get("name")): set(a.get("actions") or [])
                for a in claims.get("access") or []}
            kind = claims.get("kind", "user")
            principal = ANONYMOUS if kind == "anonymous" else Principal(
                claims["sub"], kind, self.policy.groups_of(claims["sub"]))
        request["principal"] = principal
        return principal

    def require_login(self, request: web.Request, principal: Principal,
                      scope: str | None = None) -> None:
        if principal.kind == "anonymous" and "token_access" not in request:
            raise self._challenge(request, scope, "authentication required")

    # ---- rights ----

    def allowed(self, principal: Principal, repo: str, action: str) -> bool:
        if action not in self.policy.allowed(principal, repo):
            return False
        if principal.kind == "robot":
            assert self.robots is not None
            return action in self.robots.granted(principal.name[len(ROBOT_PREFIX):], repo)
        return True

    async def may(self, request: web.Request, principal: Principal, repo: str,
                  action: str) -> bool:
        token = request.get("token_access")
        if token is not None:
            return action in token.get(("repository", repo), set())
        return self.allowed(principal, repo, action)

    async def authorize(self, request: web.Request, repo: str, action: str) -> Principal:
        principal = await self.authenticate(request)
        if await self.may(request, principal, repo, action):
            return principal
        wanted = "pull,push" if action == "push" else action
        scope = f"repository:{repo}:{wanted}"
        if principal.kind == "anonymous" or "token_access" in request:
            if principal.kind != "anonymous" and not self.allowed(principal, repo, action):
                raise RegistryError("DENIED", "requested access to the resource is denied",
                                    {"repository": repo, "action": action})
            raise self._challenge(request, scope, "authentication required",
                                  "insufficient_scope" if "token_access" in request else None)
        raise RegistryError("DENIED", "requested access to the resource is denied",
                            {"repository": repo, "action": action})

    # ---- token service ----

    async def _token_requester(self, request: web.Request) -> Principal:
        """Anonymous, or the account a Basic header proves; a Bearer token is refused."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not scheme:
            return ANONYMOUS
        if scheme.lower() != "basic":
            raise RegistryError("UNAUTHORIZED", "the token service wants a password, not "
                                "a token", headers={"WWW-Authenticate":
                                                    f'Basic realm="{self.service}"'})
        return await self._primary(request, value)

    async def token_endpoint(self, request: web.Request) -> web.StreamResponse:
        """Docker's token flow: Basic credentials (or none) in, a JWT with the granted
        subset of the requested scopes out. Also accepts the OAuth2 password grant (POST).
        Tokens come only from primary credentials: a token never buys a fresh one."""
        if not self.token_key:
            raise RegistryError("UNSUPPORTED", "token service disabled", status=404)
        params = dict(request.query)
        scopes = request.query.getall("scope", [])
        principal: Principal | None
        if request.method == "POST":
            form = await request.post()
            scopes = [str(s) for s in form.getall("scope", [])] or scopes
            if form.get("grant_type") == "password":
                principal = await self._basic(str(form.get("username", "")),
                                              str(form.get("password", "")))
                if principal is None:
                    raise RegistryError("UNAUTHORIZED", "invalid username or password")
            else:
                principal = await self._token_requester(request)
            params.update({k: str(v) for k, v in form.items()})
        else:
            principal = await self._token_requester(request)
        access = []
        for scope in " ".join(scopes).split():
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            if kind == "repository":
                wanted = {"pull", "push", "delete"} if "*" in actions else set(actions)
                granted = sorted(a for a in wanted & set(ACTIONS)
                                 if self.allowed(principal, name, a))
                access.append({"type": kind, "name": name, "actions": granted})
            elif kind == "registry" and name == "catalog" and principal.kind != "anonymous":
                access.append({"type": kind, "name": name, "actions": ["*"]})
        now = int(time.time())
        claims = {"iss": self.service, "sub": principal.name, "aud": self.service,
                  "iat": now, "nbf": now - 5, "exp": now + self.token_ttl,
                  "jti": secrets.token_hex(16), "access": access, "kind": principal.kind}
        token = jwt.encode(claims, self.token_key, algorithm="HS256")
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return web.json_response({"token": token, "access_token": token,
                                  "expires_in": self.token_ttl, "issued_at": issued})
