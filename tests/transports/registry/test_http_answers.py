"""The registry client's HTTP/1.1 on sockets (transports/registry/http.py), against a
loopback server that answers with scripted bytes: how each body is framed (sized, chunked,
up to the close, none), which connections go back to the pool, answers a hostile or broken
server sends, and requests that must not leave with control characters in them."""

from __future__ import annotations

import socket
import threading

import pytest

from wharfie.transports.registry.http import HTTPError, Pool, ProtocolError


class Scripted:
    """Accepts connections on loopback; each request (its head, and a body as its
    Content-Length or chunked framing says) gets the next of ``answers``, as raw bytes.
    An answer of None hangs up instead. ``requests`` holds every request's raw bytes;
    ``connections`` counts the connections accepted."""

    def __init__(self, *answers: bytes | None) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while self.answers:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                body, buf = self._body(conn, head, buf)
                self.requests.append(head + b"\r\n\r\n" + body)
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)

    @staticmethod
    def _body(conn: socket.socket, head: bytes, buf: bytes) -> tuple[bytes, bytes]:
        fields = head.lower()
        if b"transfer-encoding: chunked" in fields:
            while not buf.endswith(b"0\r\n\r\n"):
                buf += conn.recv(65536)
            return buf, b""
        for line in fields.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                n = int(line.split(b":")[1])
                while len(buf) < n:
                    buf += conn.recv(65536)
                return buf[:n], buf[n:]
        return b"", buf

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def start(*answers: bytes | None) -> Scripted:
        servers.append(Scripted(*answers))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def pool() -> Pool:
    return Pool(maxsize=2, timeout=5)


def fetch(p: Pool, url: str, method: str = "GET") -> tuple[int, bytes]:
    resp = p.request(method, url)
    data = resp.read()
    resp.release()
    return resp.status, data


OK_HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")


def test_a_chunked_answer_is_read_whole_and_its_connection_reused(scripted):
    srv = scripted(CHUNKED, OK_HELLO)
    p = pool()
    assert fetch(p, srv.url + "/a") == (200, b"hello world")
    assert fetch(p, srv.url + "/b") == (200, b"hello")
    assert srv.connections == 1


def test_an_answer_without_a_length_ends_with_the_connection_and_is_not_reused(scripted):
    srv = scripted(b"HTTP/1.1 200 OK\r\n\r\nto the end")  # then the server hangs up
    p = pool()
    assert fetch(p, srv.url + "/") == (200, b"to the end")
    assert not any(p._idle.values())


def test_interim_answers_are_skipped(scripted):
    srv = scripted(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                   + OK_HELLO)
    assert fetch(pool(), srv.url + "/") == (200, b"hello")


def test_a_head_answer_has_no_body_whatever_its_length_says(scripted):
    srv = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", OK_HELLO)
    p = pool()
    resp = p.request("HEAD", srv.url + "/")
    assert resp.headers.get("content-length") == "1000"
    assert resp.read() == b""
    resp.release()
    assert fetch(p, srv.url + "/") == (200, b"hello")
    assert srv.connections == 1


@pytest.mark.parametrize("answer, why", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "5 bytes before the end"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "middle of a chunked"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
     "conflicting lengths"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
     "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
     "no line end after a chunk"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "longer than 65536 bytes"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100 header fields"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "middle of an answer's head"),
    (None, "without an answer"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + OK_HELLO, "more than 10 interim answers"),
])
def test_a_broken_answer_is_one_protocol_error(scripted, answer, why):
    srv = scripted(answer)
    p = pool()
    with pytest.raises(ProtocolError, match=why):
        resp = p.request("GET", srv.url + "/")
        resp.read()
    assert not any(p._idle.values())


def test_a_connection_the_server_said_it_closes_is_not_reused(scripted):
    srv = scripted(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
                   OK_HELLO)
    p = pool()
    assert fetch(p, srv.url + "/") == (200, b"hello")
    assert not any(p._idle.values())


def test_a_connection_with_bytes_after_the_answer_is_not_reused(scripted):
    srv = scripted(OK_HELLO + b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad", OK_HELLO)
    p = pool()
    assert fetch(p, srv.url + "/") == (200, b"hello")
    assert fetch(p, srv.url + "/") == (200, b"hello")  # not the smuggled answer
    assert srv.connections == 2


def test_an_http_1_0_answer_closes_unless_kept_alive(scripted):
    srv = scripted(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                   b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
                   OK_HELLO)
    p = pool()
    assert fetch(p, srv.url + "/") == (200, b"hello")
    assert fetch(p, srv.url + "/") == (200, b"hi")
    assert fetch(p, srv.url + "/") == (200, b"hello")
    assert srv.connections == 2


def test_readinto1_fills_the_callers_buffer_and_stops_at_the_body(scripted):
    srv = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
    resp = pool().request("GET", srv.url + "/")
    buf = bytearray(100)
    got = b""
    while n := resp.readinto1(memoryview(buf)[len(got):]):
        got = bytes(buf[:len(got) + n])
    assert got == b"hello"


def test_headers_ignore_case_and_keep_the_first_of_repeated_fields(scripted):
    srv = scripted(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"a\"\r\n"
                   b"www-authenticate: Basic\r\nX-Folded: one\r\n two\r\n"
                   b"Content-Length: 0\r\n\r\n")
    resp = pool().request("GET", srv.url + "/")
    assert (resp.status, resp.reason) == (401, "Unauthorized")
    assert resp.headers.get("WWW-AUTHENTICATE") == 'Bearer realm="a"'
    assert resp.headers.get("x-folded") == "one two"
    assert resp.headers.get("Location", "none") == "none"


def test_bodies_are_framed_as_http_client_frames_them(scripted):
    srv = scripted(OK_HELLO, OK_HELLO, OK_HELLO)
    p = pool()
    for body in (b"abc", iter([b"he", b"", b"llo"]), None):
        resp = p.request("PUT", srv.url + "/up?x=1", body=body, headers={"X-A": "1"})
        resp.read()
        resp.release()
    sized, chunked, empty = srv.requests
    assert sized.startswith(b"PUT /up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nContent-Length: 3\r\n" in sized and sized.endswith(b"\r\n\r\nabc")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in chunked
    assert chunked.endswith(b"\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n")
    assert b"\r\nContent-Length: 0\r\n" in empty and b"X-A: 1" in empty


@pytest.mark.parametrize("url, headers", [
    ("/a b", {}),
    ("/a\r\nX-Injected: 1", {}),
    ("/", {"Authorization": "Bearer t\r\nX-Injected: 1"}),
    ("/", {"Bad Name": "v"}),
])
def test_a_request_with_control_characters_is_refused_before_it_is_sent(scripted, url,
                                                                         headers):
    srv = scripted(OK_HELLO)
    with pytest.raises(HTTPError, match="refusing"):
        pool().request("GET", srv.url + url, headers=headers)
    assert srv.requests == [] and srv.connections == 0  # not even connected
