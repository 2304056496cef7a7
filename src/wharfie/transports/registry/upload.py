"""Blob uploads, as the distribution spec describes them.

Small blobs go in one PUT; large ones in PATCH chunks with ``Content-Range``, sent
straight from the file when the source can seek (memory stays flat), else buffered a
chunk at a time. A failed chunk resumes from the offset the registry reports; a lost
session (say the registry restarted) starts over if the source can rewind.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import BinaryIO

from wharfie.errors import DigestMismatch, InvalidInput, NotFound, RegistryError, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor
from wharfie.transports.registry.auth import scope_for
from wharfie.transports.registry.http import FileBody
from wharfie.transports.registry.session import Session


def start_upload(reg: Session, repo: str, mount: tuple[str, Digest] | None = None
                 ) -> tuple[str | None, bool]:
    """POST an upload session. Returns (Location, mounted)."""
    path = f"/v2/{repo}/blobs/uploads/"
    scopes: tuple[str, ...] = (scope_for(repo, "pull,push"),)
    if mount:
        from_repo, digest = mount
        path += "?" + urllib.parse.urlencode({"mount": digest, "from": from_repo})
        scopes += (scope_for(from_repo, "pull"),)
    resp = reg.request("POST", path, scopes=scopes, ok=(201, 202))
    if resp.status == 201:
        return None, True
    loc = resp.headers.get("Location")
    if not loc:
        raise RegistryError(f"{reg.host}: upload started without a Location")
    return urllib.parse.urljoin(reg.url(path), loc), False


def cancel_upload(reg: Session, location: str, repo: str) -> None:
    try:
        reg.request("DELETE", location, scopes=(scope_for(repo, "pull,push"),),
                    ok=(200, 202, 204, 404), retry=False)
    except WharfieError:
        pass  # best effort: the registry expires abandoned uploads itself


def upload_blob(reg: Session, repo: str, desc: Descriptor, stream: BinaryIO,
                progress: Callable[[int], None]) -> None:
    """Upload one blob: monolithic PUT if small, else PATCH chunks; then the closing PUT.

    A failed chunk is resumed from the offset the registry reports; if the session
    itself is lost (say the registry restarted) and the stream can rewind, start over.
    """
    start_pos = _tell(stream)
    restarts = 0
    while True:
        try:
            _upload_once(reg, repo, desc, stream, progress)
            return
        except (RegistryError, NotFound, _SessionLost) as e:
            # NotFound here is "blob upload unknown": the session is gone.
            if start_pos is None or restarts >= reg.options.retries:
                if isinstance(e, RegistryError):
                    raise
                raise RegistryError(f"{reg.host}/{repo}: upload of {desc.digest} "
                                    f"failed: {e}") from None
        restarts += 1
        stream.seek(start_pos)
        time.sleep(reg.options.backoff * 2 ** restarts)


def _upload_once(reg: Session, repo: str, desc: Descriptor, stream: BinaryIO,
                 progress: Callable[[int], None]) -> None:
    scopes = (scope_for(repo, "pull,push"),)
    location, _ = start_upload(reg, repo)
    assert location is not None
    if desc.size <= reg.options.chunk_size:
        data = _read_exact(stream, desc.size)
        _finish(reg, location, desc, scopes, data)
        progress(len(data))
        return
    # A file is sent straight from disk (re-read on retry), so chunks can be big and
    # memory stays flat; any other stream is buffered one chunk at a time.
    base = _tell(stream)
    size = reg.options.chunk_size if base is None else reg.options.file_chunk_size
    offset = 0
    while offset < desc.size:
        chunk = _Chunk(stream, base, offset, min(size, desc.size - offset))
        location = _patch(reg, location, chunk, scopes, progress)
        offset += chunk.length
    _finish(reg, location, desc, scopes, None)


def _patch(reg: Session, location: str, chunk: _Chunk, scopes: tuple[str, ...],
           progress: Callable[[int], None]) -> str:
    """Send one chunk; on failure ask the registry how much it has and send the rest.
    Returns the next Location."""
    sent_from, end = chunk.offset, chunk.offset + chunk.length
    for attempt in range(reg.options.retries + 1):
        try:
            resp = reg.request(
                "PATCH", location, scopes=scopes,
                body=lambda start=sent_from: chunk.body(start, progress),
                retry=False, ok=(202,),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{sent_from}-{end - 1}",
                         "Content-Length": str(end - sent_from)})
            return urllib.parse.urljoin(location, resp.headers.get("Location") or location)
        except RegistryError as e:
            if attempt >= reg.options.retries:
                raise
            time.sleep(reg.options.backoff * 2 ** attempt)
            have = _upload_status(reg, location, scopes)
            if have is None:
                raise _SessionLost(str(e)) from None
            location, committed = have
            if not chunk.offset <= committed <= end:
                raise _SessionLost(f"registry holds {committed} bytes, "
                                   f"expected {chunk.offset}..{end}") from None
            if committed == end:
                return location
            sent_from = committed
    raise AssertionError("unreachable")


def _upload_status(reg: Session, location: str, scopes: tuple[str, ...]) -> tuple[str, int] | None:
    """(Location, bytes received) of an upload session, or None if it is gone."""
    try:
        resp = reg.request("GET", location, scopes=scopes, ok=(204, 404, 400))
    except WharfieError:
        return None
    if resp.status != 204:
        return None
    # distribution reports "0-0" for an empty session and "0-(n-1)" otherwise.
    end = int((resp.headers.get("Range") or "0-0").rsplit("-", 1)[-1])
    received = 0 if end == 0 else end + 1
    return urllib.parse.urljoin(location, resp.headers.get("Location") or location), received


def _finish(reg: Session, location: str, desc: Descriptor, scopes: tuple[str, ...],
            data: bytes | None) -> None:
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}{urllib.parse.urlencode({'digest': desc.digest})}"
    headers = {"Content-Type": "application/octet-stream",
               "Content-Length": str(len(data or b""))}
    # A monolithic PUT replays its bytes; a closing PUT after chunks must not be
    # retried blindly (the session is gone once it succeeds).
    resp = reg.request("PUT", url, scopes=scopes, body=data or b"", headers=headers,
                        ok=(201, 204), retry=data is not None)
    got = resp.headers.get("Docker-Content-Digest")
    if got and Digest(got) != desc.digest:
        raise DigestMismatch(f"{reg.host}: registry stored {desc.digest} as {got}")


class _Chunk:
    """``length`` bytes of a blob at ``offset``: read from a seekable file at ``base + offset``
    each time it is sent, or buffered once from any other stream."""

    PIECE = 1 << 20

    def __init__(self, stream: BinaryIO, base: int | None, offset: int, length: int) -> None:
        self.stream, self.base, self.offset, self.length = stream, base, offset, length
        self.data = _read_exact(stream, length) if base is None else None

    def body(self, start: int, progress: Callable[[int], None]) -> Iterator[bytes] | FileBody:
        """The bytes from blob offset ``start`` to the chunk's end, reporting as they go:
        from a file by the kernel, from any other stream through our buffer."""
        if self.base is not None and _has_fileno(self.stream):
            return FileBody(self.stream, self.base + start, self.offset + self.length - start,
                            progress)
        return self._pieces(start, progress)

    def _pieces(self, start: int, progress: Callable[[int], None]) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)[start - self.offset:]
            for i in range(0, len(view), self.PIECE):
                piece = view[i:i + self.PIECE]
                yield piece  # type: ignore[misc]
                progress(len(piece))
            return
        assert self.base is not None
        self.stream.seek(self.base + start)
        left = self.offset + self.length - start
        while left > 0:
            piece = self.stream.read(min(self.PIECE, left))
            if not piece:
                raise InvalidInput(f"blob stream ended {left} bytes early")
            left -= len(piece)
            yield piece
            progress(len(piece))


class _SessionLost(Exception):
    """The upload session cannot be resumed; start a new one if the data can be re-read."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    first = stream.read(n)  # one read, one buffer, for files
    if len(first) == n:
        return first
    buf = bytearray(first)
    while len(buf) < n:
        data = stream.read(n - len(buf))
        if not data:
            raise InvalidInput(f"blob stream ended after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def _has_fileno(stream: BinaryIO) -> bool:
    """Is ``stream`` an OS file (which ``sendfile`` can send)?"""
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _tell(stream: BinaryIO) -> int | None:
    try:
        if stream.seekable():
            return stream.tell()
    except (AttributeError, OSError, ValueError):
        pass
    return None
