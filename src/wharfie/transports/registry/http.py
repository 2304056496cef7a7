"""Pooled HTTP/1.1 connections per ``scheme://host:port``, with TLS: what the registry
client needs of HTTP, written on sockets.

The standard library's ``http.client`` parses each answer's head with the ``email``
package and loads ``ssl`` even for plain HTTP, and its reads copy each body twice: on it
a pull took ~10 ms longer (urllib3, built on it, ~36 ms more). Here an answer's head is
parsed within ``http.client``'s limits (a line of 64 KiB, 100 fields), ``ssl`` loads with
the first TLS connection, and a body is read straight into the caller's buffer
(``readinto1``).

No redirects, retries or content decoding here: the ``Session`` follows redirects and
retries by hand, and blobs are hashed as sent. A response's body is streamed; its
connection goes back to the pool only when the body was read to its end, and an idle
connection the server closed meanwhile is replaced, not used.
"""

from __future__ import annotations

import re
import select
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import InvalidInput

if TYPE_CHECKING:
    import ssl

CONNECT_TIMEOUT = 10.0  # seconds for TCP connect and TLS handshake
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LINE = 65536  # bytes in a status, header or chunk-size line, as http.client
MAX_FIELDS = 100  # header (or trailer) fields in one answer, as http.client
MAX_INTERIM = 10  # 1xx answers before the final one: an endless stream of them is refused
RECV = 65536  # bytes asked of the socket while reading a head
READ_MAX = 1 << 20  # bytes one ``read1`` returns at most

Key = tuple[str, str, int]  # (scheme, host, port): one pool of connections each

_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


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


class Headers:
    """An answer's header fields: ``get`` ignores case and gives the first of repeated
    fields."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields  # lower-cased name -> value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


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
        tls = _is_tls(sock)
        while done < self.length:
            n = min(self.WINDOW, self.length - done)
            if tls:
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


class _Connection:
    """One socket, and what was read from it but not yet taken."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()

    @property
    def pending(self) -> bool:
        """Bytes read past what was taken: after an answer, the server said too much."""
        return bool(self._buf)

    def readline(self) -> bytes:
        """One line with its end; what is left when the connection closes (b"" at once)."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                if end >= MAX_LINE:
                    break
                line = bytes(self._buf[:end + 1])
                del self._buf[:end + 1]
                return line
            if len(self._buf) >= MAX_LINE:
                break
            start = len(self._buf)
            data = self.sock.recv(RECV)
            if not data:
                line = bytes(self._buf)
                self._buf.clear()
                return line
            self._buf += data
        raise ProtocolError(f"a line of the answer is longer than {MAX_LINE} bytes")

    def read1(self, n: int) -> bytes:
        if self._buf:
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data
        return self.sock.recv(n)

    def readinto1(self, view: memoryview) -> int:
        if self._buf:
            n = min(len(view), len(self._buf))
            view[:n] = self._buf[:n]
            del self._buf[:n]
            return n
        return self.sock.recv_into(view)

    def send(self, data: bytes | memoryview) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


class Response:
    """An answer with its body unread: ``read``, ``read1`` and ``readinto1`` stream it;
    ``release`` gives the connection back (only if the body was read to its end),
    ``close`` drops it."""

    def __init__(self, pool: Pool, key: Key, conn: _Connection, status: int, reason: str,
                 headers: Headers, length: int | None, chunked: bool, reusable: bool) -> None:
        self._pool, self._key, self._conn = pool, key, conn
        self.status, self.reason, self.headers = status, reason, headers
        self._left = length  # bytes left of a sized body (or of the chunk); None: to the close
        self._chunked = chunked
        self._chunks_begun = False
        self._done = length == 0 and not chunked
        self._reusable = reusable and (chunked or length is not None)
        self._broken = False

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes (all when None); fewer only at the body's end."""
        parts: list[bytes] = []
        want = amt
        while want is None or want > 0:
            data = self.read1(READ_MAX if want is None else want)
            if not data:
                break
            parts.append(data)
            if want is not None:
                want -= len(data)
        return b"".join(parts)

    def read1(self, amt: int = -1) -> bytes:
        """Up to ``amt`` bytes with at most one read from the socket."""
        n = min(self._room(amt), READ_MAX)  # recv allocates what it is asked for
        if not n:
            return b""
        assert self._conn is not None
        data = self._guarded(self._conn.read1, n)
        self._took(len(data))
        return data

    def readinto1(self, buf) -> int:
        """Fill the start of ``buf`` with at most one read from the socket; 0 at the end."""
        view = memoryview(buf).cast("B")
        n = self._room(len(view))
        if not n:
            return 0
        assert self._conn is not None
        got = self._guarded(self._conn.readinto1, view[:n])
        self._took(got)
        return got

    def release(self) -> None:
        """Back to the pool if the body was read to its end; else closed (a half-read
        connection would give its rest to the next request)."""
        if self._conn is None:
            return
        if self._done and self._reusable and not self._broken and not self._conn.pending:
            conn, self._conn = self._conn, None
            self._pool._put(self._key, conn)
        else:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _room(self, amt: int | None) -> int:
        """How many bytes the next read may take: ``amt`` (a default when negative or None)
        within what is left of the body or of its chunk; 0 at the end."""
        if self._done or self._conn is None or amt == 0:
            return 0
        want = READ_MAX if amt is None or amt < 0 else amt
        if self._chunked and not self._left:
            self._guarded(self._next_chunk)
            if self._done:
                return 0
        return want if self._left is None else min(want, self._left)

    def _took(self, n: int) -> None:
        if not n:
            if self._left is not None or self._chunked:
                self._cut_short()
            self._done = True  # a body that ends with the connection
            return
        if self._left is not None:
            self._left -= n
            if not self._left and not self._chunked:
                self._done = True

    def _next_chunk(self) -> None:
        """Read the next chunk's size line (after the last chunk's CRLF); at the last
        chunk, its trailer fields too, and the body is done."""
        assert self._conn is not None
        if self._chunks_begun and self._conn.readline() not in (b"\r\n", b"\n"):
            raise ProtocolError("bad chunked encoding: no line end after a chunk")
        self._chunks_begun = True
        line = self._conn.readline()
        if not line.endswith(b"\n"):
            self._cut_short()
        size = line.split(b";", 1)[0].strip()
        if not size or size.strip(b"0123456789abcdefABCDEF") or len(size) > 16:
            raise ProtocolError(f"bad chunked encoding: chunk size {size[:20]!r}")
        self._left = int(size, 16)
        if not self._left:
            _read_fields(self._conn)  # trailers: read and ignored
            self._done = True

    def _guarded(self, read, *args):
        try:
            return read(*args)
        except HTTPError:
            self._broken = True
            self.close()
            raise
        except OSError as e:
            self._broken = True
            self.close()
            raise _translate(e) from e

    def _cut_short(self) -> None:
        left = self._left
        self._broken = True
        self.close()
        if self._chunked:
            raise ProtocolError("connection closed in the middle of a chunked answer")
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
        self._idle: dict[Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: bytes | Iterable[bytes] | FileBody | None = None) -> Response:
        """Send one request; the answer comes with its body unread. An iterable ``body``
        is sent as it comes, chunked unless ``headers`` give its Content-Length; a
        ``FileBody`` needs its Content-Length in ``headers``."""
        key, target = _split(url)
        scheme, host, port = key
        head, chunked = _request_head(method, target,
                                      _host_header(host, port, DEFAULT_PORTS[scheme]),
                                      headers or {}, body)
        conn = self._take(key) or self._connect(key)
        try:
            if body is None or isinstance(body, FileBody):
                conn.send(head)
                if body is not None:
                    body.send(conn.sock)
            elif isinstance(body, (bytes, bytearray, memoryview)):
                if len(body) <= RECV:
                    conn.send(head + body)  # a small request in one segment
                else:
                    conn.send(head)
                    conn.send(body)
            else:
                conn.send(head)
                _send_pieces(conn, body, chunked=chunked)
            return _read_answer(self, key, conn, method)
        except OSError as e:
            conn.close()
            raise _translate(e) from e
        except BaseException:
            conn.close()  # a body's own error (a short file, say): the request is half sent
            raise

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _take(self, key: Key) -> _Connection | None:
        """The most recently used idle connection that the server has not closed."""
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None or not _dropped(conn):
                return conn
            conn.close()

    def _put(self, key: Key, conn: _Connection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < self.maxsize:
                conns.append(conn)
                return
        conn.close()

    def _connect(self, key: Key) -> _Connection:
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
        return _Connection(sock)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            import ssl  # with the first TLS connection: plain HTTP never loads it

            ctx = ssl.create_default_context(cafile=self.ca_certs)
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            self._tls = ctx
        return self._tls


def _request_head(method: str, target: str, host: str, headers: dict[str, str],
                  body: object) -> tuple[bytes, bool]:
    """The request line and header fields, with Host and the body's framing added as
    ``http.client`` adds them, and whether an iterable body goes chunked (no length given).
    Control characters in the target or a field are refused: a URL or token from a hostile
    server must not add a header or a request."""
    if _BAD_TARGET.search(target) or not target.isascii():
        raise HTTPError(f"refusing a request target with spaces or control characters: "
                        f"{target[:100]!r}")
    given = {name.lower() for name in headers}
    chunked = "content-length" not in given
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {host}")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: identity")
    if chunked and "transfer-encoding" not in given:
        if isinstance(body, (bytes, bytearray, memoryview)):
            lines.append(f"Content-Length: {len(body)}")
        elif body is None:
            if method in ("POST", "PUT", "PATCH"):
                lines.append("Content-Length: 0")
        elif not isinstance(body, FileBody):
            lines.append("Transfer-Encoding: chunked")
    for name, value in headers.items():
        value = str(value)
        if not _FIELD_NAME.fullmatch(name) or _BAD_VALUE.search(value):
            raise HTTPError(f"refusing a request header with control characters: {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1"), chunked
    except UnicodeEncodeError:
        raise HTTPError("refusing a request header that is not Latin-1 text") from None


def _send_pieces(conn: _Connection, body: Iterable[bytes], *, chunked: bool) -> None:
    for piece in body:
        if not piece:
            continue  # an empty chunk would end the body
        if chunked:
            conn.send(b"%x\r\n" % len(piece))
            conn.send(piece)
            conn.send(b"\r\n")
        else:
            conn.send(piece)
    if chunked:
        conn.send(b"0\r\n\r\n")


def _read_answer(pool: Pool, key: Key, conn: _Connection, method: str) -> Response:
    """The final answer's status line and fields (interim 1xx answers skipped), and how its
    body is framed."""
    for _ in range(MAX_INTERIM + 1):
        line = conn.readline()
        if not line:
            raise ProtocolError("connection closed without an answer")
        version, status, reason = _status_line(line)
        fields, lengths = _read_fields(conn)
        if not 100 <= status < 200 or status == 101:
            break
    else:
        raise ProtocolError(f"more than {MAX_INTERIM} interim answers")
    tokens = {t.strip().lower() for t in fields.get("connection", "").split(",")}
    reusable = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    length: int | None = None
    chunked = False
    if method == "HEAD" or status in (204, 304) or status < 200:
        length = 0
    elif "transfer-encoding" in fields:  # the last coding chunked, else up to the close
        chunked = fields["transfer-encoding"].rsplit(",", 1)[-1].strip().lower() == "chunked"
    else:
        length = _content_length(lengths)
    return Response(pool, key, conn, status, reason, Headers(fields), length, chunked,
                    reusable)


def _status_line(line: bytes) -> tuple[str, int, str]:
    parts = line.decode("latin-1").rstrip("\r\n").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 \
            or not parts[1].isdigit() or not parts[1].isascii():
        raise ProtocolError(f"not an HTTP answer: {line[:60]!r}")
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


def _read_fields(conn: _Connection) -> tuple[dict[str, str], list[str]]:
    """Header (or trailer) fields up to the empty line: the first value of each name, and
    every Content-Length given."""
    fields: dict[str, str] = {}
    lengths: list[str] = []
    last: str | None = None
    for _ in range(MAX_FIELDS + 1):
        line = conn.readline()
        if line in (b"\r\n", b"\n"):
            return fields, lengths
        if not line.endswith(b"\n"):
            raise ProtocolError("connection closed in the middle of an answer's head")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            raise ProtocolError("bad line end in the answer's head")
        if text[0] in " \t":  # an obsolete folded line: it continues the field before
            if last is not None:
                fields[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            raise ProtocolError(f"bad header line in the answer: {text[:60]!r}")
        value = value.strip()
        if name == "content-length":
            lengths.append(value)
        last = name if name not in fields else None
        fields.setdefault(name, value)
    raise ProtocolError(f"the answer has more than {MAX_FIELDS} header fields")


def _content_length(values: list[str]) -> int | None:
    """The body's length; None when not given (then it ends with the connection)."""
    sizes = {v.strip() for value in values for v in value.split(",")}
    if not sizes:
        return None
    if len(sizes) > 1:
        raise ProtocolError(f"the answer gives conflicting lengths: {sorted(sizes)}")
    size = sizes.pop()
    if not size.isdigit() or not size.isascii() or len(size) > 19:
        raise ProtocolError(f"bad Content-Length in the answer: {size[:30]!r}")
    return int(size)


def _host_header(host: str, port: int, default: int) -> str:
    name = f"[{host}]" if ":" in host else host
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return name if port == default else f"{name}:{port}"


def _is_tls(sock: socket.socket) -> bool:
    ssl = sys.modules.get("ssl")  # a TLS socket exists only once ssl is loaded
    return ssl is not None and isinstance(sock, ssl.SSLSocket)


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


def _dropped(conn: _Connection) -> bool:
    """Has the server closed (or written to) an idle connection? Either way it cannot carry
    another request: an idle HTTP/1.1 connection has nothing to read."""
    if conn.pending:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def _translate(e: OSError) -> HTTPError:
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(e, ssl.SSLError):
        return TLSError(str(e))
    if isinstance(e, TimeoutError):
        return Timeout(f"read timed out: {e}" if str(e) else "read timed out")
    return ProtocolError(f"connection lost: {str(e) or type(e).__name__}")
