"""The client against registries that misbehave on purpose: redirects to hosts that ask for
credentials, endless bodies, trickling bodies. The hostile peers are real HTTP servers on
loopback (127.0.0.2 plays "another host")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wharfie.errors import WharfieError
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.registry.auth import AuthError
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination
from wharfie.transports.registry.source import open_remote

OTHER_HOST = "127.0.0.2"


class HostileServer:
    """A real HTTP server that answers every request with ``respond(handler)`` and records
    (method, path, Authorization) for each one."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None],
                 address: str = "127.0.0.1") -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def handle_one(self) -> None:
                server.seen.append((self.command, self.path, self.headers.get("Authorization")))
                try:
                    respond(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        for m in ("GET", "HEAD", "POST"):
            setattr(Handler, f"do_{m}", Handler.handle_one)
        self.httpd = ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"{address}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile():
    """``hostile(respond, address)`` -> a HostileServer, shut down after the test."""
    made: list[HostileServer] = []

    def make(respond, address: str = "127.0.0.1") -> HostileServer:
        made.append(HostileServer(respond, address))
        return made[-1]

    yield make
    for s in made:
        s.close()


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b""):
    def respond(req: BaseHTTPRequestHandler) -> None:
        req.send_response(status)
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
    return respond


TOKEN = answer(200, {"Content-Type": "application/json"}, b'{"token": "t", "expires_in": 300}')


def test_redirect_target_asking_for_credentials_gets_none(
        basic_registry, fault_proxy, hostile, small_image, alice, pulled):
    """H4: the registry redirects a blob to another host, which answers 401 naming a token
    realm of its own: the registry's Basic credentials must not reach that realm."""
    opts = RegistryOptions(credentials=alice, backoff=0.01)
    ref = parse_reference(f"{basic_registry}/hostile/redirect:v1")
    copy_image(small_image, RegistryDestination(opts.registry(basic_registry), ref.path), ref)

    realm = hostile(TOKEN, OTHER_HOST)
    other = hostile(answer(401, {"WWW-Authenticate":
                                 f'Bearer realm="http://{realm.host}/token",service="other"'}),
                    OTHER_HOST)
    proxy = fault_proxy(basic_registry)
    proxy.faults.append(lambda m, p, h, n: ("status", 307, {
        "Location": f"http://{other.host}/blob/{p.rsplit('/', 1)[-1]}"})
        if m == "GET" and "/blobs/" in p else None)

    src = open_remote(parse_reference(f"{proxy.host}/hostile/redirect:v1"), opts)
    with pytest.raises(WharfieError) as err:
        copy_image(src, pulled, jobs=1)
    assert realm.seen == []
    assert other.seen and all(auth is None for _, _, auth in other.seen)
    assert isinstance(err.value, AuthError)
    assert "credentials are not sent to another host" in str(err.value)


def test_registry_naming_a_foreign_token_realm_gets_no_credentials(hostile, alice,
                                                                    monkeypatch):
    """A registry's own challenge may send our credentials only to a realm on its host, or
    to one the user configured (WHARFIE_REGISTRY_TOKEN_REALMS)."""
    realm = hostile(TOKEN, OTHER_HOST)
    registry = hostile(answer(401, {"WWW-Authenticate":
                                    f'Bearer realm="http://{realm.host}/token",service="x"'}))
    ref = parse_reference(f"{registry.host}/hostile/realm:v1")
    monkeypatch.delenv("WHARFIE_REGISTRY_TOKEN_REALMS", raising=False)
    with pytest.raises(WharfieError) as err:
        open_remote(ref, RegistryOptions(credentials=alice, backoff=0.01))
    assert realm.seen == []
    assert f"WHARFIE_REGISTRY_TOKEN_REALMS=http://{realm.host}" in str(err.value)

    monkeypatch.setenv("WHARFIE_REGISTRY_TOKEN_REALMS", f"http://{realm.host}")
    with pytest.raises(WharfieError):  # this registry refuses every token: not our concern
        open_remote(ref, RegistryOptions(credentials=alice, backoff=0.01))
    assert realm.seen and realm.seen[0][2].startswith("Basic ")


ENDLESS_CAP = 512 << 20  # the "endless" bodies stop here, so old clients end at all


class Sent:
    """Bytes a hostile server wrote, per path kind."""

    def __init__(self) -> None:
        self.bytes: dict[str, int] = {}

    def add(self, kind: str, n: int) -> None:
        self.bytes[kind] = self.bytes.get(kind, 0) + n


def endless(req: BaseHTTPRequestHandler, sent: Sent, kind: str, status: int = 200,
            framing: str = "close", headers: dict[str, str] | None = None) -> None:
    """Answer with a body that does not end (up to ENDLESS_CAP), framed as chosen: ``close``
    (no length: the body ends when the connection does), ``chunked``, or ``length`` (a
    Content-Length as large as the cap)."""
    req.send_response(status)
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    if framing == "chunked":
        req.send_header("Transfer-Encoding", "chunked")
    elif framing == "length":
        req.send_header("Content-Length", str(ENDLESS_CAP))
    else:
        req.close_connection = True
    req.end_headers()
    block = b"\0" * (64 << 10)
    for _ in range(ENDLESS_CAP // len(block)):
        if framing == "chunked":
            req.wfile.write(b"%x\r\n" % len(block) + block + b"\r\n")
        else:
            req.wfile.write(block)
        sent.add(kind, len(block))
    req.close_connection = True


def fake_registry(image, misbehave=None):
    """A registry serving ``image`` by digest and as tag v1; ``misbehave(req, kind, digest)``
    may answer a request itself (and return True) instead."""
    raw, media_type = image.manifest_bytes()
    blobs = {d.digest: d for d in image.blobs()}

    def respond(req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?")[0]
        kind = "ping" if path == "/v2/" else path.split("/")[-2]
        last = path.rsplit("/", 1)[-1]
        if misbehave and misbehave(req, kind, last):
            return
        if kind == "ping":
            answer(200, {"Content-Type": "application/json"}, b"{}")(req)
        elif kind == "manifests":
            answer(200, {"Content-Type": media_type,
                         "Docker-Content-Digest": image.digest}, raw)(req)
        elif kind == "blobs":
            answer(200, {}, image.read_blob(blobs[last]))(req)
        else:
            answer(404)(req)
    return respond


@pytest.mark.parametrize("framing", ["close", "chunked", "length"])
def test_endless_blob_body_stops_at_the_descriptor_size(hostile, make_image, pulled, framing):
    """A blob's body is read to its descriptor's size, never to the end of the stream."""
    image = make_image(1 << 20, raw=True)
    layer = image.manifest.layers[0]
    sent = Sent()

    def blob_without_end(req, kind, digest):
        if kind == "blobs" and digest == layer.digest:
            endless(req, sent, "blob", framing=framing)
            return True
        return False
    registry = hostile(fake_registry(image, blob_without_end))
    src = open_remote(parse_reference(f"{registry.host}/hostile/endless:v1"),
                      RegistryOptions(backoff=0.01))
    t0 = time.monotonic()
    with pytest.raises(WharfieError, match=f"blob {layer.digest} is"):
        copy_image(src, pulled, jobs=1)
    assert time.monotonic() - t0 < 5
    assert sent.bytes.get("blob", 0) < 32 << 20  # what loopback buffers hold, not the endless rest
    assert not pulled.store.exists(layer.digest)
    assert list(pulled.store.ingest_dir.iterdir()) == []


@pytest.mark.parametrize("kind", ["ping", "error", "token"])
def test_endless_small_bodies_are_read_to_a_cap(hostile, make_image, pulled, kind):
    """``GET /v2/``, error bodies and token answers are read to a small cap (manifests were
    already read to 4 MiB)."""
    image = make_image(files=[{"a": b"a"}], compression="gzip")
    sent = Sent()
    realm = hostile(lambda req: endless(req, sent, "token", framing="chunked"))
    challenge = {"WWW-Authenticate": f'Bearer realm="http://{realm.host}/token",service="x"'}

    def misbehave(req, what, last):
        if kind == "ping" and what == "ping":
            endless(req, sent, "ping")
        elif kind == "error" and what == "manifests":
            endless(req, sent, "error", status=404, framing="chunked")
        elif kind == "token" and what == "manifests" and not req.headers.get("Authorization"):
            answer(401, challenge)(req)
        else:
            return False
        return True
    registry = hostile(fake_registry(image, misbehave))
    t0 = time.monotonic()
    try:
        src = open_remote(parse_reference(f"{registry.host}/hostile/small:v1"),
                          RegistryOptions(backoff=0.01, retries=1))
        copy_image(src, pulled)  # an endless /v2/ is fine once cut: the pull goes on
        assert kind == "ping"
    except WharfieError as e:
        assert kind != "ping", e
        assert "more than" in str(e) or "not found" in str(e)
    assert time.monotonic() - t0 < 5
    assert 0 < sum(sent.bytes.values()) < 32 << 20


def test_trickling_blob_hits_the_overall_deadline(hostile, make_image, pulled, monkeypatch):
    """A server sending a blob a few bytes at a time, each read well inside the read
    timeout, is given up once the blob's deadline (timeout + size / min rate) passes."""
    image = make_image(256 << 10, raw=True)
    layer = image.manifest.layers[0]

    def trickle(req, kind, digest):
        if kind != "blobs" or digest != layer.digest:
            return False
        data = image.read_blob(layer)
        req.send_response(200)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        stop = time.monotonic() + 8  # then hang up, so an old client ends too
        for i in range(0, len(data), 64):
            if time.monotonic() > stop:
                break
            req.wfile.write(data[i:i + 64])
            req.wfile.flush()
            time.sleep(0.02)
        req.close_connection = True
        return True
    registry = hostile(fake_registry(image, trickle))
    monkeypatch.setenv("WHARFIE_REGISTRY_MIN_RATE", str(256 << 10))  # 1 s for this blob
    opts = RegistryOptions(timeout=1.0, retries=0, backoff=0.01)
    src = open_remote(parse_reference(f"{registry.host}/hostile/trickle:v1"), opts)
    t0 = time.monotonic()
    with pytest.raises(WharfieError, match=f"download of {layer.digest} too slow"):
        copy_image(src, pulled, jobs=1)
    assert time.monotonic() - t0 < 4  # deadline 2 s: 1 s read timeout + 256 KiB at 256 KiB/s
    assert list(pulled.store.ingest_dir.iterdir()) == []


def test_min_rate_setting_is_checked(monkeypatch):
    monkeypatch.setenv("WHARFIE_REGISTRY_MIN_RATE", "fast")
    with pytest.raises(WharfieError, match="invalid WHARFIE_REGISTRY_MIN_RATE 'fast'"):
        RegistryOptions()
    monkeypatch.setenv("WHARFIE_REGISTRY_MIN_RATE", "1024")
    assert RegistryOptions(timeout=10).blob_deadline(4096) == 14


@pytest.mark.parametrize("realm,base,trusted", [
    ("https://auth.docker.io/token", "https://registry-1.docker.io", True),  # built in
    ("https://gitlab.com/jwt/auth", "https://registry.gitlab.com", True),  # parent domain
    ("https://ghcr.io/token", "https://ghcr.io", True),
    ("http://ghcr.io/token", "https://ghcr.io", False),  # no downgrade to plain HTTP
    ("https://evil.example/token", "https://registry-1.docker.io", False),
    ("https://com/token", "https://registry.example.com", False),  # not a registrable parent
    ("http://127.0.0.2:5000/token", "http://127.0.0.1:5000", False),
    ("https://gitlab.com.evil.example/t", "https://registry.gitlab.com", False),
])
def test_which_token_realms_receive_credentials(realm, base, trusted):
    from wharfie.transports.registry.session import realm_trusted

    assert realm_trusted(realm, base, ()) is trusted
