"""Registry client fixtures: made-up images (wharfie.testing.random) in a real content
store, registries in their four set-ups (anonymous, htpasswd, token, TLS), and a token issuer of our own."""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wharfie.content.blobstore import ContentStore
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.testing import random
from wharfie.testing.random import RandomImage
from wharfie.transports.base import ImageDestination
from wharfie.transports.registry.client import RegistryOptions

USER, PASSWORD = "alice", "s3cret-pass"


class ContentDestination(ImageDestination):
    """Pulls into a bare ContentStore; remembers manifests and tags as an image store would."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self.tags: dict[str, Digest] = {}

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.exists(desc.digest)

    def put_blob(self, desc, stream, progress) -> None:
        self.store.ingest(stream, desc.digest, desc.size, progress)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        digest = self.store.put(raw)
        if ref is not None:
            self.tags[str(ref)] = digest
        return digest


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "content").ensure()


@pytest.fixture
def make_image(store) -> Callable[..., RandomImage]:
    """``wharfie.testing.random.image`` with its blobs in the test's content store."""
    return functools.partial(random.image, store=store)


@pytest.fixture
def busybox(make_image, busybox_rootfs_tar) -> RandomImage:
    """Debian's busybox rootfs as a one-layer gzip OCI image."""
    return make_image(contents=[busybox_rootfs_tar.read_bytes()], compression="gzip")


@pytest.fixture
def small_image(make_image) -> RandomImage:
    """Two tiny layers: quick to push many times."""
    return make_image(files=[{"etc/a": b"a" * 100}, {"etc/b": os.urandom(64)}],
                      compression="gzip", labels={"t": uuid.uuid4().hex})


@pytest.fixture
def options() -> RegistryOptions:
    return RegistryOptions(backoff=0.05)


@pytest.fixture(scope="session")
def anon_registry(docker_registry_factory) -> str:
    return docker_registry_factory().host


@pytest.fixture(scope="session")
def basic_registry(docker_registry_factory, htpasswd) -> str:
    path = htpasswd({USER: PASSWORD})
    return docker_registry_factory(
        auth=f"auth:\n  htpasswd:\n    realm: wharfie-test\n    path: {path}\n").host


class TokenServer:
    """A Docker token issuer: Basic credentials in, RS256 JWT (x5c header) out.

    ``issued`` lists the scopes asked for, so tests can see caching work.
    """

    def __init__(self, workdir: Path, service: str = "wharfie-test-registry") -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.service, self.issuer = service, "wharfie-test-issuer"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharfie token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.bundle = workdir / "token-ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        self.issued: list[list[str]] = []
        self.expires_in = 300
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        import urllib.parse

        import jwt

        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
        auth = req.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if (u, p) != (USER, PASSWORD):
                req.send_response(401)
                req.end_headers()
                return
            user = u
        scopes = query.get("scope", [])
        self.issued.append(scopes)
        access = []
        for s in scopes:
            kind, name, actions = s.split(":")[0], ":".join(s.split(":")[1:-1]), s.split(":")[-1]
            # Anonymous users may pull only; alice may do anything.
            allowed = actions.split(",") if user else [a for a in actions.split(",")
                                                        if a == "pull"]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        token = jwt.encode({"iss": self.issuer, "sub": user, "aud": self.service,
                            "exp": now + self.expires_in, "nbf": now - 10, "iat": now,
                            "jti": uuid.uuid4().hex, "access": access},
                           self.key, algorithm="RS256", headers={"x5c": [self.x5c]})
        body = json.dumps({"token": token, "expires_in": self.expires_in}).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def auth_yaml(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.service}\n"
                f"    issuer: {self.issuer}\n    rootcertbundle: {self.bundle}\n")


@pytest.fixture(scope="session")
def token_server(tmp_path_factory) -> TokenServer:
    ts = TokenServer(tmp_path_factory.mktemp("token"))
    yield ts
    ts.httpd.shutdown()


@pytest.fixture(scope="session")
def token_registry(docker_registry_factory, token_server) -> str:
    return docker_registry_factory(auth=token_server.auth_yaml()).host


@pytest.fixture(scope="session")
def tls_registry(docker_registry_factory, self_signed_cert) -> tuple[str, Path]:
    cert, key = self_signed_cert
    return docker_registry_factory(tls=(cert, key)).host, cert


@pytest.fixture
def docker_config(tmp_path, monkeypatch) -> Path:
    """An empty DOCKER_CONFIG (and no containers auth.json) for this test."""
    d = tmp_path / "docker-config"
    d.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "containers-auth.json"))
    return d


Pusher = Callable[..., Digest]


@pytest.fixture
def alice():
    """The one user the htpasswd and token set-ups accept."""
    from wharfie.transports.registry.credentials import Credentials

    return Credentials(USER, PASSWORD)


@pytest.fixture
def pulled(tmp_path) -> ContentDestination:
    """A fresh content store to pull into (a real destination for copy_image)."""
    return ContentDestination(ContentStore(tmp_path / "pulled").ensure())


class FaultProxy:
    """A real HTTP peer between client and registry that breaks chosen requests.

    ``faults`` holds callables ``(method, path, headers, n) -> action`` where ``n`` counts
    requests of that method and path kind so far; an action is ``None`` (forward),
    ``("status", code, headers)``, ``("drop-mid-body", nbytes)`` (send the headers and
    ``nbytes`` of the body, then close), ``("corrupt",)`` (flip a byte of the body) or
    ``("close",)`` (close without answering), ``("stall-mid-body", nbytes)`` (send part of
    the body, set ``stalled``, and hang until ``release``), ``("ignore-range", nbytes)``
    (forward without the Range header, as a server that ignores it, and drop after
    ``nbytes`` of the whole body). ``log`` records (method, path, range).
    """

    def __init__(self, upstream: str) -> None:
        import http.client

        self.upstream = upstream
        self.faults: list[Callable] = []
        self.log: list[tuple[str, str, str | None]] = []
        self.counts: dict[tuple[str, str], int] = {}
        self.on_request: Callable[[str, str], None] | None = None
        self.stalled, self.release = threading.Event(), threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def handle_one(self) -> None:
                method, path = self.command, self.path
                kind = (method, _kind(path))
                proxy.counts[kind] = n = proxy.counts.get(kind, 0) + 1
                proxy.log.append((method, path, self.headers.get("Range")))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.on_request:
                    proxy.on_request(method, path)
                action = None
                for f in proxy.faults:
                    action = f(method, path, self.headers, n)
                    if action:
                        break
                if action and action[0] == "status":
                    self.send_response(action[1])
                    for k, v in (action[2] if len(action) > 2 else {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action and action[0] == "close":
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = dict(self.headers.items())  # Host kept: Locations point here
                if action and action[0] == "ignore-range":
                    headers.pop("Range", None)
                    action = ("drop-mid-body", action[1])
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                data = resp.read()
                if "Content-Length" not in resp.headers:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method == "HEAD":
                    return
                if action and action[0] == "drop-mid-body":
                    self.wfile.write(data[:action[1]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if action and action[0] == "stall-mid-body":
                    self.wfile.write(data[:action[1]])
                    self.wfile.flush()
                    proxy.stalled.set()
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
                if action and action[0] == "corrupt" and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                self.wfile.write(data)

        for m in ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"):
            setattr(Handler, f"do_{m}", Handler.handle_one)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def requests(self, method: str, kind: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.log if r[0] == method and _kind(r[1]) == kind]


def _kind(path: str) -> str:
    """``blobs``, ``uploads``, ``manifests``, ``tags`` or ``ping`` for a registry path."""
    p = path.split("?")[0]
    for k in ("uploads", "blobs", "manifests", "tags", "referrers"):
        if f"/{k}/" in p:
            return k
    return "ping"


@pytest.fixture
def fault_proxy():
    """``fault_proxy(upstream_host)`` -> a FaultProxy in front of it."""
    made: list[FaultProxy] = []

    def make(upstream: str) -> FaultProxy:
        made.append(FaultProxy(upstream))
        return made[-1]

    yield make
    for p in made:
        p.release.set()
        p.httpd.shutdown()
        p.httpd.server_close()
