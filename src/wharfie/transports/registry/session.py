"""The connection to one registry host: what every request needs.

It pings ``/v2/``, picks HTTPS or (for loopback and ``--insecure``) plain HTTP,
answers 401 challenges (Basic or Bearer, tokens cached per scope), follows
``Location`` exactly as given (dropping credentials when a redirect leaves the
host), retries 5xx, 429 and dropped connections with backoff. The distribution API
(``client.py``) and the blob transfers (``download.py``, ``upload.py``) are built on it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import NotFound, RegistryError, WharfieError
from wharfie.transports.registry import credentials as creds_mod
from wharfie.transports.registry.auth import (
    AuthError,
    Challenge,
    TokenCache,
    basic_header,
    fetch_token,
    parse_challenge,
)
from wharfie.transports.registry.config import Endpoint
from wharfie.transports.registry.credentials import Credentials
from wharfie.transports.registry.http import (
    ConnectError,
    FileBody,
    HTTPError,
    Pool,
    ProtocolError,
    Response,
    TLSError,
)
from wharfie.transports.registry.responses import BODY_MAX, Reply, read_reply

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
READ_CHUNK = 1 << 20
MIN_RATE = 16 << 10  # bytes/s: below this a blob download is given up


@dataclass
class SessionOptions:
    """How to talk to registries: TLS, credentials, retries, chunking."""

    insecure: bool = False  # --tls-verify=false: plain HTTP allowed, certificates unchecked
    ca_cert: str | None = None  # --ca-cert: a PEM bundle to trust
    credentials: Credentials | None = None  # given on the command line; else looked up
    credentials_for: dict[str, Credentials] = field(default_factory=dict)  # per host
    retries: int = 5
    backoff: float = 0.25  # first delay; doubles each attempt
    max_retry_after: float = 30.0
    chunk_size: int = 8 << 20  # bigger blobs go up in PATCH chunks; others buffer this much
    file_chunk_size: int = 64 << 20  # PATCH size when the blob is read from a file
    timeout: float = 60.0  # per read; a blob also has an overall deadline (blob_deadline)
    # The slowest a blob may arrive, in bytes/s: a server trickling bytes cannot hold a pull
    # for ever, as the per-read timeout alone would let it.
    min_rate: float = field(default_factory=lambda: parse_rate(
        os.environ.get("WHARFIE_REGISTRY_MIN_RATE", "")))
    jobs: int = 4
    # Mirrors tried first for a registry name's pulls (Docker's registry mirrors); the
    # registries files (config.py) add more, and insecure registries and CA files.
    mirrors: dict[str, str] = field(default_factory=lambda: parse_mirrors(
        os.environ.get("WHARFIE_REGISTRY_MIRRORS", "")))
    # Token servers on another host that may receive our credentials (Docker Hub's
    # auth.docker.io, say): "https://auth.example,https://sso.example:8443".
    token_realms: tuple[str, ...] = field(default_factory=lambda: tuple(filter(None, (
        x.strip() for x in os.environ.get("WHARFIE_REGISTRY_TOKEN_REALMS", "").split(",")))))

    def blob_deadline(self, size: int) -> float:
        """Seconds a blob of ``size`` bytes may take: one read timeout, plus ``min_rate``."""
        return self.timeout + size / self.min_rate


def parse_mirrors(text: str) -> dict[str, str]:
    """``docker.io=127.0.0.1:5000,quay.example=mirror:5000`` -> {name: endpoint}."""
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, sep, endpoint = item.partition("=")
        if not sep or not name or not endpoint:
            raise WharfieError(f"invalid WHARFIE_REGISTRY_MIRRORS entry {item!r}: "
                               "want NAME=HOST[:PORT]")
        out[name.strip()] = endpoint.strip()
    return out


def parse_rate(text: str) -> float:
    """``WHARFIE_REGISTRY_MIN_RATE``: bytes per second, 16 KiB/s when unset."""
    if not text.strip():
        return float(MIN_RATE)
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise WharfieError(f"invalid WHARFIE_REGISTRY_MIN_RATE {text!r}: want bytes per second")
    return rate


def is_loopback(host: str) -> bool:
    """Is ``host`` (HOST[:PORT]) on this machine's loopback? Names count by the addresses
    they resolve to, as docker decides which registries may speak plain HTTP."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def _ca_for(endpoint: Endpoint, options: SessionOptions) -> str | None:
    """--ca-cert, the registries file's ca-file, else Docker's or containers' per-registry
    ``certs.d/HOST/*.crt``."""
    if options.ca_cert or endpoint.ca_file:
        return options.ca_cert or endpoint.ca_file
    for base in ("/etc/docker/certs.d", "/etc/containers/certs.d"):
        d = Path(base) / endpoint.host
        if d.is_dir():
            crts = sorted(p for p in d.glob("*.crt"))
            if crts:
                return str(crts[0])
    return None


def _error_text(resp: Reply) -> str:
    """The registry's own words from its JSON error body, or the HTTP reason."""
    try:
        doc = json.loads(resp.data)
        errs = doc.get("errors") or []
        if errs:
            return "; ".join(
                ": ".join(x for x in (str(e.get("code", "")).lower().replace("_", " "),
                                      e.get("message", "")) if x) for e in errs)
    except (ValueError, AttributeError):
        pass
    return f"HTTP {resp.status} {resp.reason}".strip()


def _error_codes(resp: Reply) -> tuple[str, ...]:
    """The distribution-spec error codes of a JSON error body (``MANIFEST_UNKNOWN``, ...)."""
    try:
        errs = json.loads(resp.data).get("errors") or []
        return tuple(str(e["code"]) for e in errs if isinstance(e, dict) and e.get("code"))
    except (ValueError, AttributeError):
        return ()


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _origin(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def realm_trusted(realm: str, base: str, configured: tuple[str, ...]) -> bool:
    """May ``realm`` receive the credentials stored for the registry at ``base``?

    Only a token server on the registry's own host name (never plain HTTP for an HTTPS
    registry), or one the user named: a challenge can come from anyone the registry
    redirects to, and must not be able to collect our password."""
    r, b = urllib.parse.urlsplit(realm), urllib.parse.urlsplit(base)
    if _origin(realm) in {_origin(c) for c in configured}:
        return True
    if not r.hostname or not b.hostname or r.scheme not in ("https", b.scheme):
        return False
    return (r.hostname == b.hostname or r.hostname == BUILTIN_REALMS.get(b.hostname)
            or _is_parent_domain(r.hostname, b.hostname))


# Docker Hub's registry sends clients to its token server on another host, as docker knows.
BUILTIN_REALMS = {"registry-1.docker.io": "auth.docker.io", "index.docker.io": "auth.docker.io"}


def _is_parent_domain(parent: str, host: str) -> bool:
    """``gitlab.com`` for ``registry.gitlab.com``: whoever owns the parent owns the host too.
    IP addresses and one-label names have no parent."""
    if "." not in parent or parent.replace(".", "").isdigit() or ":" in host:
        return False
    return host.endswith("." + parent)


class Session:
    """Everything one registry host needs: connection pool, scheme, challenge and tokens."""

    def __init__(self, host: str, options: SessionOptions,
                 endpoints: list[Endpoint] | None = None) -> None:
        self.host = host  # the registry's name: credentials and messages use it
        self.options = options
        # where to connect, in order (mirrors, then the registry's own); the ping picks one
        self.endpoints = endpoints or [Endpoint(host)]
        self.endpoint = self.endpoints[-1]
        self._reset()
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self.pool = self._make_pool(self.endpoint)

    def _reset(self) -> None:
        """Forget what the ping settled: scheme, challenge, tokens, credentials."""
        self._creds: Credentials | None = self.options.credentials_for.get(self.host) or \
            self.options.credentials
        self._creds_loaded = self._creds is not None
        self._base: str | None = None
        self._challenge: Challenge | None = None
        self._tokens = TokenCache()

    def fall_back(self) -> bool:
        """Leave a mirror that answered but failed for the next endpoint; False when the
        current endpoint is not a mirror (or no endpoint follows)."""
        with self._lock:
            if not self.endpoint.mirror or self.endpoint is self.endpoints[-1]:
                return False
            self.endpoints = self.endpoints[self.endpoints.index(self.endpoint) + 1:]
            self.endpoint = self.endpoints[-1]
            self._reset()
            return True

    # -- connection -------------------------------------------------------------------------
    def _insecure(self, endpoint: Endpoint) -> bool:
        return self.options.insecure or endpoint.insecure

    def _make_pool(self, endpoint: Endpoint) -> Pool:
        ca = _ca_for(endpoint, self.options)
        return Pool(maxsize=max(self.options.jobs, 1) + 2, timeout=self.options.timeout,
                    ca_certs=ca, verify=bool(ca) or not self._insecure(endpoint))

    @property
    def credentials(self) -> Credentials | None:
        if not self._creds_loaded:
            # a mirror has its own credentials; the registry's are not sent there
            self._creds = creds_mod.lookup(
                self.endpoint.host if self.endpoint.mirror else self.host)
            self._creds_loaded = True
        return self._creds

    def base(self) -> str:
        """``scheme://host``, settled by pinging ``/v2/`` once."""
        with self._lock:
            if self._base is None:
                self._base = self._ping()
            return self._base

    def _schemes(self, endpoint: Endpoint) -> list[str]:
        """HTTPS, except that loopback may be plain HTTP (tried first: an HTTPS server
        answers a plain request at once, while a TLS hello can leave an HTTP server
        waiting) and --insecure falls back to HTTP."""
        if self.options.ca_cert or endpoint.ca_file:
            return ["https"]
        if is_loopback(endpoint.host):
            return ["http", "https"]
        return ["https", "http"] if self._insecure(endpoint) else ["https"]

    def _ping(self) -> str:
        """The first endpoint that answers (a mirror failing falls back to the next)."""
        for endpoint in self.endpoints:
            self.endpoint, self.pool = endpoint, self._make_pool(endpoint)
            try:
                return self._ping_endpoint(endpoint)
            except RegistryError:
                if endpoint is self.endpoints[-1]:
                    raise
        raise AssertionError("unreachable")

    def _ping_endpoint(self, endpoint: Endpoint) -> str:
        schemes = self._schemes(endpoint)
        last: Exception | str = "no answer"
        retries = 0 if endpoint.mirror else self.options.retries
        for attempt in range(retries + 1):
            delay = self.options.backoff * 2 ** attempt
            unreachable = 0
            for scheme in schemes:
                url = f"{scheme}://{endpoint.host}/v2/"
                try:
                    resp = read_reply(self.pool.request(
                        "GET", url, headers={"User-Agent": "wharfie"}))
                except TLSError as e:
                    if "CERTIFICATE_VERIFY_FAILED" in str(e):
                        raise RegistryError(
                            f"{self.host}: TLS certificate not trusted ({_ssl_reason(e)}); "
                            "pass --ca-cert FILE or --tls-verify=false") from None
                    if "http" not in schemes and _plain_http(e):
                        where = f" at {endpoint.host}" if endpoint.host != self.host else ""
                        raise RegistryError(
                            f"{self.host}: the registry{where} answered plain HTTP "
                            "to an HTTPS request; to allow plain HTTP, pass --tls-verify=false "
                            "or mark it `insecure = true` in registries.toml") from None
                    last = e
                    continue  # not TLS: try the next scheme
                except ProtocolError as e:
                    last = e  # e.g. a TLS server hanging up on plain HTTP
                    continue
                except HTTPError as e:
                    last = e  # a reset or a timeout: wait and retry
                    if _unreachable(e):
                        unreachable += 1
                        continue  # the other scheme may use another port (80 and 443)
                    break
                if scheme == "http" and resp.status == 400 and scheme != schemes[-1]:
                    continue  # an HTTPS server refusing plain HTTP
                if resp.status in RETRY_STATUSES:
                    last, delay = f"HTTP {resp.status}", self._delay(resp, attempt)
                    break
                if resp.status == 401:
                    self._challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                elif resp.status not in (200, 404):
                    raise RegistryError(f"{self.host}: ping /v2/ failed: {_error_text(resp)}")
                return f"{scheme}://{endpoint.host}"
            if unreachable == len(schemes):
                break  # refused, or no such name: fail at once
            if attempt < retries:
                time.sleep(delay)
        where = f" at {endpoint.host}" if endpoint.host != self.host else ""
        raise RegistryError(f"{self.host}: cannot connect to the registry{where}: "
                            f"{last if isinstance(last, str) else short_error(last)}")

    def _delay(self, resp: Reply | None, attempt: int) -> float:
        """Retry-After (seconds or an HTTP date) on 429/503, else exponential backoff."""
        if resp is not None and resp.status in (429, 503):
            wait = _retry_after(resp.headers.get("Retry-After"))
            if wait is not None:
                return min(wait, self.options.max_retry_after)
        return self.options.backoff * 2 ** attempt

    # -- auth ---------------------------------------------------------------------------------
    def _authorization(self, scopes: tuple[str, ...], *, stale: str | None = None) -> str | None:
        """The Authorization header for ``scopes``; ``stale`` is one the registry refused."""
        ch = self._challenge
        if ch is None:
            return None
        creds = self.credentials
        if ch.scheme == "basic":
            return basic_header(creds) if creds else None
        if ch.scheme != "bearer":
            return None
        realm = ch.params.get("realm", "")
        if creds and realm.startswith(("http://", "https://")) and \
                not realm_trusted(realm, self.base(), self.options.token_realms):
            raise AuthError(f"{self.host}: the token server {realm} is not on this registry's "
                            "host: credentials are not sent there (to trust it, set "
                            f"WHARFIE_REGISTRY_TOKEN_REALMS={_origin(realm)})")
        key = " ".join(sorted(scopes))
        with self._token_lock:  # one fetch per scope, however many threads ask at once
            token = self._tokens.get(key)
            if token is None or "Bearer " + token == stale:
                token, ttl = fetch_token(self.pool, ch, list(scopes), creds, self.host)
                self._tokens.put(key, token, ttl)
        return "Bearer " + token

    def _unauthorized(self, resp: Reply) -> WharfieError:
        answer = {"status": resp.status, "codes": _error_codes(resp)}
        if self.credentials:
            return AuthError(f"{self.host}: unauthorized: {_error_text(resp)}; "
                             f"check the credentials (`wharfie login {self.host}`)", **answer)
        return AuthError(f"{self.host}: unauthorized: authentication required; "
                         f"run `wharfie login {self.host}` first", **answer)

    # -- requests -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """An absolute URL for a registry path, or a Location header taken as given."""
        return urllib.parse.urljoin(self.base() + "/", path)

    def request(self, method: str, path: str, *, scopes: tuple[str, ...] = (),
                headers: dict[str, str] | None = None,
                body: bytes | Callable[[], Iterator[bytes] | FileBody] | None = None,
                ok: tuple[int, ...] = (200,), stream: bool = False,
                retry: bool = True, limit: int = BODY_MAX
                ) -> Reply | Response:
        """One call with auth, redirects and retries. Non-``ok`` statuses raise.

        ``body`` is bytes, or a function giving a fresh stream of them (or a ``FileBody``)
        for each attempt (a 401 answered with a new token sends it again). The answer is a
        ``Reply`` whose body is read to at most ``limit`` bytes (more is an error), or with
        ``stream`` the response itself, its body unread (the caller releases it)."""
        url = self.url(path)
        refreshed = False
        attempt = 0
        auth = self._authorization(scopes)
        while True:
            try:
                raw, where = self._send(method, url, auth, headers or {},
                                        body() if callable(body) else body)
                if raw.status in ok and stream:
                    return raw
                resp = read_reply(raw, limit if raw.status in ok else BODY_MAX)
            except HTTPError as e:
                if retry and attempt < self.options.retries and not _unreachable(e):
                    time.sleep(self.options.backoff * 2 ** attempt)
                    attempt += 1
                    continue
                raise RegistryError(f"{self.host}: {method} {urllib.parse.urlsplit(url).path}: "
                                    f"{short_error(e)}") from None
            if resp.status == 401 and not _same_origin(where, self.base()):
                raise AuthError(f"{self.host}: {method} {urllib.parse.urlsplit(url).path}: "
                                f"redirected to {_origin(where)}, which asks for credentials: "
                                "credentials are not sent to another host")
            if resp.status == 401 and not refreshed:
                refreshed = True
                ch = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                if ch is None:
                    raise self._unauthorized(resp)
                self._challenge = ch
                if ch.scheme == "basic" and not self.credentials:
                    raise self._unauthorized(resp)
                auth = self._authorization(scopes, stale=auth)
                continue
            if resp.status in RETRY_STATUSES and retry and attempt < self.options.retries:
                time.sleep(self._delay(resp, attempt))
                attempt += 1
                continue
            if resp.status in ok:
                if not resp.complete:
                    raise RegistryError(f"{self.host}: {method} {urllib.parse.urlsplit(url).path}"
                                        f": answer larger than {limit} bytes")
                return resp
            if resp.status == 401:
                raise self._unauthorized(resp)
            answer = {"status": resp.status, "codes": _error_codes(resp)}
            if resp.status == 403:
                raise AuthError(f"{self.host}: denied: {_error_text(resp)}", **answer)
            if resp.status == 404:
                raise NotFound(f"{self.host}: {_error_text(resp)}", **answer)
            raise RegistryError(f"{self.host}: {method} {urllib.parse.urlsplit(url).path}: "
                                f"{_error_text(resp)}", **answer)

    def _send(self, method: str, url: str, auth: str | None, headers: dict[str, str],
              body: bytes | Iterator[bytes] | FileBody | None) -> tuple[Response, str]:
        """Send, following redirects by hand so credentials never leave the registry's origin.
        Returns the response, its body unread, and the URL that gave it."""
        origin = self.base()
        hdrs = {"User-Agent": "wharfie", **headers}
        for _ in range(10):
            h = dict(hdrs)
            if auth and _same_origin(url, origin):
                h["Authorization"] = auth
            resp = self.pool.request(method, url, headers=h, body=body)
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                read_reply(resp)
                url = urllib.parse.urljoin(url, location)
                if resp.status == 303:
                    method, body = "GET", None
                continue
            return resp, url
        raise RegistryError(f"{self.host}: too many redirects")


def _unreachable(e: HTTPError) -> bool:
    """A connection refused or a name that does not resolve: retrying cannot help."""
    return isinstance(e, ConnectError)


def _plain_http(e: TLSError) -> bool:
    """OpenSSL's words for a plain HTTP answer to a TLS hello."""
    text = str(e).lower()
    return "wrong_version_number" in text or "wrong version number" in text or \
        "record layer failure" in text or "http_request" in text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # an HTTP date is rare: not loaded for every pull

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def short_error(e: Exception | None) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, ConnectError):
        return e.reason  # "connection refused", "cannot resolve the host name", ...
    text = str(e)
    return text.split(": ", 1)[-1] if len(text) > 200 else text


def _ssl_reason(e: Exception) -> str:
    text = str(e)
    i = text.find("certificate verify failed")
    return text[i:].split(")")[0] if i >= 0 else "certificate verify failed"

