"""Blob downloads that survive dropped connections: resumed with ``Range: bytes=N-``.

Each has an overall deadline scaled to its size (``RegistryOptions.blob_deadline``): the
per-read timeout alone lets a server that trickles a byte at a time hold a pull for ever.

A download is bounded by its descriptor: it stops at the descriptor's size, and a server
that declares or sends more is refused (the digest is checked by whoever stores or uses the
bytes: the content store, ``read_blob``, the archive writer, the destination registry)."""

from __future__ import annotations

import io
import time

from wharfie.errors import RegistryError
from wharfie.oci.manifest import Descriptor
from wharfie.transports.registry.auth import scope_for
from wharfie.transports.registry.http import HTTPError, ProtocolError, Response
from wharfie.transports.registry.session import READ_CHUNK, Session, short_error


class BlobReader(io.RawIOBase):
    """Reads a blob from the registry; resumes with ``Range: bytes=N-`` when dropped."""

    def __init__(self, registry: Session, repo: str, desc: Descriptor) -> None:
        self._reg, self._repo, self._desc = registry, repo, desc
        self._offset = 0
        self._failures = 0
        self._resp: Response | None = None
        self._started = time.monotonic()
        self._deadline = self._started + registry.options.blob_deadline(desc.size)
        self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        headers = {"Range": f"bytes={self._offset}-"} if self._offset else {}
        path = f"/v2/{self._repo}/blobs/{self._desc.digest}"
        resp = self._reg.request("GET", path, scopes=(scope_for(self._repo, "pull"),),
                                 headers=headers, ok=(200, 206), stream=True)
        self._resp = resp
        declared = resp.headers.get("Content-Length")
        expected = self._desc.size - (self._offset if resp.status == 206 else 0)
        if declared is not None and declared.strip() != str(expected):
            self._drop()
            raise RegistryError(f"{self._reg.host}: blob {self._desc.digest} is sent as "
                                f"{declared.strip()} bytes where its descriptor says {expected}")
        if self._offset and resp.status == 200:
            try:
                self._skip(self._offset)  # the server ignored Range: throw the prefix away
            except HTTPError as e:
                self._retry(e)  # dropped again before the offset: one more failure
        elif resp.status == 206:
            start = (resp.headers.get("Content-Range") or "").removeprefix("bytes ")
            if not start.startswith(f"{self._offset}-"):
                self._drop()
                raise RegistryError(f"{self._reg.host}: bad Content-Range {start!r} resuming "
                                    f"{self._desc.digest} at {self._offset}")

    def readinto(self, b) -> int:  # type: ignore[override]
        left = self._desc.size - self._offset
        if left <= 0:
            self._expect_end()
            return 0
        view = memoryview(b)[:left]
        while True:
            assert self._resp is not None
            self._check_deadline()
            try:
                n = self._resp.readinto1(view)  # one read: the deadline is checked often
            except HTTPError as e:
                self._retry(e)
                continue
            if not n:
                self._retry(None)
                continue
            self._offset += n
            return n

    def _skip(self, n: int) -> None:
        assert self._resp is not None
        while n > 0:
            self._check_deadline()
            data = self._resp.read1(min(n, READ_CHUNK))
            if not data:
                raise ProtocolError("connection closed while skipping to the resume offset")
            n -= len(data)

    def _check_deadline(self) -> None:
        if time.monotonic() < self._deadline:
            return
        self._drop()
        opts = self._reg.options
        raise RegistryError(
            f"{self._reg.host}: download of {self._desc.digest} too slow: {self._offset} of "
            f"{self._desc.size} bytes in {time.monotonic() - self._started:.0f} s (at least "
            f"{opts.min_rate:.0f} bytes/s after {opts.timeout:.0f} s; "
            "WHARFIE_REGISTRY_MIN_RATE sets the rate)")

    def _expect_end(self) -> None:
        """The descriptor's bytes are all here: anything more is a lying (or endless) body."""
        if self._resp is None:
            return
        try:
            extra = self._resp.read(1)
        except HTTPError:
            extra = b""  # a server hanging up after the last byte is fine
        if extra:
            self._drop()
            raise RegistryError(f"{self._reg.host}: blob {self._desc.digest} is longer than "
                                f"the {self._desc.size} bytes its descriptor says")
        self._resp.release()
        self._resp = None

    def _retry(self, err: Exception | None) -> None:
        self._failures += 1
        self._drop()
        if self._failures > self._reg.options.retries:
            raise RegistryError(f"{self._reg.host}: download of {self._desc.digest} failed at "
                                f"byte {self._offset}: {short_error(err) if err else 'connection closed'}")
        time.sleep(self._reg.options.backoff * 2 ** (self._failures - 1))
        self._check_deadline()
        self._open()

    def _drop(self) -> None:
        """Close the connection of a response not read to its end: it cannot be reused."""
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def close(self) -> None:
        self._drop()
        super().close()
