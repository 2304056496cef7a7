"""The client against registries that misbehave on purpose: redirects to hosts that ask for
credentials, endless bodies, trickling bodies. The hostile peers are real HTTP servers on
loopback (127.0.0.2 plays "another host")."""

from __future__ import annotations

import threading
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
