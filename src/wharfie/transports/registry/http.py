"""Pooled HTTP/1.1 connections per ``scheme://host:port``, with TLS: what the registry
client needs of HTTP, on the standard library's ``http.client`` (urllib3, built on the same,
costs every pull and push ~36 ms more just to import).

No redirects, retries or content decoding here: the ``Session`` follows redirects and
retries by hand, and blobs are hashed as sent. A response's body is streamed; its
connection goes back to the pool only when the body was read to its end, and an idle
connection the server closed meanwhile is replaced, not used.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import BinaryIO

from wharfie.errors import InvalidInput

CONNECT_TIMEOUT = 10.0  # seconds for TCP connect and TLS handshake
DEFAULT_PORTS = {"http": 80, "https": 443}

Headers = http.client.HTTPMessage  # case-insensitive ``get``; the first of repeated fields
Key = tuple[str, str, int]  # (scheme, host, port): one pool of connections each


class HTTPError(Exception):
    """Any failure to get an answer over HTTP (never an HTTP status: those are answers)."""


class ConnectError(HTTPError):
    """No connection at all: refused, or the name does not resolve. Retrying cannot help."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {reason}")
        self.reason = reason


class Timeout(HTTPError):
    """No connection, or no answer, in time."""


class TLSError(HTTPError):
    """The TLS handshake (or a TLS record) failed; the text is OpenSSL's."""


class ProtocolError(HTTPError):
    """The connection was dropped or reset mid-request or mid-answer, or the answer is not
    HTTP."""


class FileBody:
    """``length`` bytes of an open file from ``offset``, a window at a time, ``progress(n)``
    told after each: on a plain connection the kernel sends them (``sendfile``: no trip
    through our buffers); TLS encrypts here, so they are read and sent."""

    WINDOW = 1 << 20

    def __init__(self, file: BinaryIO, offset: int, length: int,
                 progress: Callable[[int], None] | None = None) -> None:
        self.file, self.offset, self.length, self.progress = file, offset, length, progress

    def send(self, sock: socket.socket) -> None:
        done = 0
        while done < self.length:
            n = min(self.WINDOW, self.length - done)
            if isinstance(sock, ssl.SSLSocket):
                self.file.seek(self.offset + done)
                data = self.file.read(n)
                sock.sendall(data)
                sent = len(data)
            else:
                sent = sock.sendfile(self.file, self.offset + done, n)
            if not sent:
                raise InvalidInput(f"blob stream ended {self.length - done} bytes early")
            done += sent
            if self.progress is not None:
                self.progress(sent)


class Response:
    """An answer with its body unread: ``read``/``read1`` stream it; ``release`` gives the
    connection back (only if the body was read to its end), ``close`` drops it."""

    def __init__(self, pool: Pool, key: Key, conn: http.client.HTTPConnection,
                 raw: http.client.HTTPResponse) -> None:
        self._pool, self._key, self._conn, self._raw = pool, key, conn, raw
        self._broken = False
        self.status: int = raw.status
        self.reason: str = raw.reason
        self.headers: Headers = raw.msg

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes (all when None); fewer only at the body's end."""
        left = self._raw.length  # of a sized body; None: chunked, or up to the close
        data = self._guarded(self._raw.read, amt)
        if left is not None and len(data) < (left if amt is None else min(amt, left)):
            self._cut_short()
        return data

    def read1(self, amt: int = -1) -> bytes:
        """Up to ``amt`` bytes with at most one read from the socket."""
        data = self._guarded(self._raw.read1, amt)
        if not data and amt and self._raw.length:
            self._cut_short()
        return data

    def release(self) -> None:
        """Back to the pool if the body was read to its end; else closed (a half-read
        connection would give its rest to the next request)."""
        if self._conn is None:
            return
        if self._finished() and self._conn.sock is not None:
            self._raw.close()
            self._pool._put(self._key, self._conn)
            self._conn = None
        else:
            self.close()

    def close(self) -> None:
        self._raw.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _finished(self) -> bool:
        if self._broken:
            return False
        if self._raw.length == 0:  # a sized body read to its end; HEAD, 204 and 304
            return True
        return bool(self._raw.chunked) and self._raw.isclosed()  # the last chunk was read

    def _guarded(self, read, amt) -> bytes:
        try:
            return read(amt)
        except (OSError, http.client.HTTPException) as e:
            self._broken = True
            self.close()
            raise _translate(e) from e

    def _cut_short(self) -> None:
        left = self._raw.length
        self._broken = True
        self.close()
        raise ProtocolError(f"connection closed {left} bytes before the end of the answer")


class Pool:
    """Keep-alive connections for any number of ``scheme://host:port``, at most ``maxsize``
    idle each (more may be open at once; the extra ones close when released). Thread-safe.

    TLS verifies against the system's CAs, or only ``ca_certs`` when given, with the host
    name checked (and sent as SNI); ``verify=False`` checks nothing."""

    def __init__(self, *, maxsize: int, timeout: float, ca_certs: str | None = None,
                 verify: bool = True) -> None:
        self.maxsize, self.timeout = maxsize, timeout  # timeout: per socket read
        self.ca_certs, self.verify = ca_certs, verify
        self._idle: dict[Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: bytes | Iterable[bytes] | FileBody | None = None) -> Response:
        """Send one request; the answer comes with its body unread. An iterable ``body``
        is sent as it comes, chunked unless ``headers`` give its Content-Length; a
        ``FileBody`` needs its Content-Length in ``headers``."""
        key, target = _split(url)
        conn = self._take(key) or self._connect(key)
        try:
            if isinstance(body, FileBody):
                conn.request(method, target, headers=headers or {})  # the headers alone
                body.send(conn.sock)
            else:
                conn.request(method, target, body=body, headers=headers or {})
            raw = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise _translate(e) from e
        except BaseException:
            conn.close()  # the body's own error (a short file, say): the request is half sent
            raise
        return Response(self, key, conn, raw)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _take(self, key: Key) -> http.client.HTTPConnection | None:
        """The most recently used idle connection that the server has not closed."""
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None or not _dropped(conn):
                return conn
            conn.close()

    def _put(self, key: Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < self.maxsize:
                conns.append(conn)
                return
        conn.close()

    def _connect(self, key: Key) -> http.client.HTTPConnection:
        scheme, host, port = key
        sock = _open_socket(host, port)
        try:
            if scheme == "https":
                sock = self._context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self.timeout)
        except BaseException as e:
            sock.close()
            if isinstance(e, OSError):
                raise _translate(e) from e
            raise
        conn = (_TLSConnection if scheme == "https" else http.client.HTTPConnection)(host, port)
        conn.sock = sock
        conn.auto_open = 0  # a closed connection fails, never silently reconnects (in clear)
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            ctx = ssl.create_default_context(cafile=self.ca_certs)
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            self._tls = ctx
        return self._tls


class _TLSConnection(http.client.HTTPConnection):
    """A connection on a socket already wrapped in TLS: only the Host header's default port
    differs from plain HTTP."""

    default_port = 443


def _open_socket(host: str, port: int) -> socket.socket:
    # an ASCII name goes as bytes: the socket module would load the IDNA codec to encode it
    name = host.encode("ascii") if host.isascii() else host
    try:
        sock = socket.create_connection((name, port), CONNECT_TIMEOUT)
    except TimeoutError:
        raise Timeout(f"{host}:{port}: connect timed out after {CONNECT_TIMEOUT:.0f} s") from None
    except socket.gaierror:
        raise ConnectError(host, port, "cannot resolve the host name") from None
    except ConnectionRefusedError:
        raise ConnectError(host, port, "connection refused") from None
    except OSError as e:
        raise ConnectError(host, port, e.strerror or str(e)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _split(url: str) -> tuple[Key, str]:
    """(scheme, host, port) and the request target of an absolute URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise HTTPError(f"not an http(s) URL: {url}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise HTTPError(f"bad port in {url}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), target


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Has the server closed (or written to) an idle connection? Either way it cannot carry
    another request: an idle HTTP/1.1 connection has nothing to read."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def _translate(e: BaseException) -> HTTPError:
    if isinstance(e, ssl.SSLError):
        return TLSError(str(e))
    if isinstance(e, TimeoutError):
        return Timeout(f"read timed out: {e}" if str(e) else "read timed out")
    if isinstance(e, http.client.RemoteDisconnected):
        return ProtocolError("connection closed without an answer")
    return ProtocolError(f"connection lost: {str(e) or type(e).__name__}")
