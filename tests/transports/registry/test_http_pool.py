"""The registry client's own HTTP connection pool (transports/registry/http.py), against real
HTTP(S) servers on loopback: keep-alive reuse, connections the server closed, half-read
answers, and TLS's host name check and SNI (trust, --ca-cert and --tls-verify=false are
the registry set-up tests'), and a file sent as a body."""

from __future__ import annotations

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wharfie.errors import InvalidInput
from wharfie.transports.registry.http import FileBody, Pool, TLSError

BODY = bytes(range(256)) * 4096  # 1 MiB: far more than a socket buffer holds


class Server:
    """An HTTP/1.1 server answering every GET with ``BODY``; ``connections`` counts the
    connections it accepted. ``close_after_answer`` hangs up after each answer without
    saying so (no ``Connection: close``), as a server whose keep-alive timer ran out;
    ``stall_first`` sends the first answer's headers and 10 bytes, then the rest only when
    ``proceed`` is set (or after 2 s)."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 close_after_answer: bool = False, stall_first: bool = False) -> None:
        self.connections, self.closed = 0, threading.Semaphore(0)
        self.answers, self.proceed = 0, threading.Event()
        self.received: list[bytes] = []  # PUT bodies
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_PUT(self) -> None:
                server.received.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                server.answers += 1
                if stall_first and server.answers == 1:
                    self.wfile.write(BODY[:10])
                    self.wfile.flush()
                    server.proceed.wait(2)
                try:
                    self.wfile.write(BODY[10:] if stall_first and server.answers == 1 else BODY)
                except OSError:
                    self.close_connection = True  # the client hung up: fine
                    return
                self.close_connection = close_after_answer

        class HTTPServer(ThreadingHTTPServer):
            def shutdown_request(self, request) -> None:
                super().shutdown_request(request)
                server.closed.release()

        self.httpd = HTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            # the handshake in the connection's thread, not in the one accepting them all
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    started: list[Server] = []

    def start(**kw) -> Server:
        started.append(Server(**kw))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def get(pool: Pool, url: str) -> bytes:
    resp = pool.request("GET", url)
    assert resp.status == 200
    data = resp.read()
    resp.release()
    return data


def test_a_connection_read_to_its_end_is_reused(serve):
    server = serve()
    pool = Pool(maxsize=2, timeout=10)
    for _ in range(3):
        assert get(pool, f"http://127.0.0.1:{server.port}/v2/") == BODY
    assert server.connections == 1
    pool.close()


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(serve):
    server = serve(close_after_answer=True)
    pool = Pool(maxsize=2, timeout=10)
    url = f"http://127.0.0.1:{server.port}/v2/"
    assert get(pool, url) == BODY
    assert server.closed.acquire(timeout=10)  # the pooled connection is now dead
    time.sleep(0.05)  # its FIN reaches the client's end
    assert get(pool, url) == BODY
    assert server.connections == 2
    pool.close()


def test_a_half_read_answer_closes_its_connection(serve):
    """Even while the rest of its body has not arrived (nothing to read on the socket)."""
    server = serve(stall_first=True)
    pool = Pool(maxsize=2, timeout=10)
    url = f"http://127.0.0.1:{server.port}/v2/"
    resp = pool.request("GET", url)
    assert resp.read1(5) == BODY[:5]
    resp.release()  # the body's rest is to come: never handed to the next request
    assert get(pool, url) == BODY
    server.proceed.set()
    assert server.connections == 2
    pool.close()


def _tls_context(cert, key, seen_names: list | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if seen_names is not None:
        ctx.sni_callback = lambda sock, name, _ctx: seen_names.append(name)
    return ctx


def test_tls_refuses_a_trusted_certificate_for_another_address(serve, self_signed_cert):
    """The certificate names 127.0.0.1 and localhost; served from 127.0.0.2, trusting it
    (--ca-cert) is not enough. --tls-verify=false takes it."""
    cert, key = self_signed_cert
    server = serve(host="127.0.0.2", tls=_tls_context(cert, key))
    url = f"https://127.0.0.2:{server.port}/v2/"
    with pytest.raises(TLSError, match="CERTIFICATE_VERIFY_FAILED.*mismatch"):
        Pool(maxsize=2, timeout=10, ca_certs=str(cert)).request("GET", url)
    assert get(Pool(maxsize=2, timeout=10, verify=False), url) == BODY


def test_tls_sends_the_host_name_as_sni(serve, self_signed_cert):
    cert, key = self_signed_cert
    names: list[str] = []
    server = serve(tls=_tls_context(cert, key, names))
    pool = Pool(maxsize=2, timeout=10, ca_certs=str(cert))
    assert get(pool, f"https://localhost:{server.port}/v2/") == BODY
    assert names == ["localhost"]
    pool.close()


@pytest.mark.parametrize("tls", [False, True], ids=["sendfile", "tls"])
def test_a_file_body_sends_its_slice_and_reports_it(serve, self_signed_cert, tmp_path, tls):
    """A blob's chunk goes from the file (by the kernel in the clear, read and encrypted
    here over TLS): exactly its bytes, progress for each, and a short file is refused."""
    cert, key = self_signed_cert
    server = serve(tls=_tls_context(cert, key) if tls else None)
    url = f"{'https' if tls else 'http'}://localhost:{server.port}/v2/upload"
    blob = tmp_path / "blob"
    blob.write_bytes(BODY * 3)
    pool = Pool(maxsize=2, timeout=10, ca_certs=str(cert))
    sent: list[int] = []
    with open(blob, "rb") as f:
        start, length = 1000, len(BODY) * 2 + 7
        resp = pool.request("PUT", url, headers={"Content-Length": str(length)},
                            body=FileBody(f, start, length, sent.append))
        assert resp.status == 201
        resp.release()
        assert server.received == [(BODY * 3)[start:start + length]]
        assert sum(sent) == length and len(sent) > 1
        with pytest.raises(InvalidInput, match="ended"):
            pool.request("PUT", url, headers={"Content-Length": str(len(BODY) * 4)},
                         body=FileBody(f, 0, len(BODY) * 4))
    pool.close()
