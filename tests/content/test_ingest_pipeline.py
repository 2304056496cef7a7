"""The threaded hash/write pipeline of ContentStore.ingest: content, errors, cleanup."""

import io
import os

import pytest

from wharfie.content import blobstore as content_store
from wharfie.content.blobstore import ContentStore
from wharfie.errors import DigestMismatch
from wharfie.oci.digest import Digest


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "root").ensure()


class Trickle(io.RawIOBase):
    """A stream that returns few bytes per read (a socket), optionally failing midway."""

    def __init__(self, data: bytes, step: int, fail_at: int | None = None) -> None:
        self.data, self.pos, self.step, self.fail_at = data, 0, step, fail_at

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise ConnectionResetError("peer went away")
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class ReadOnly:
    """A stream with only ``read`` (no ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.f.read(min(n, 100_000))


def test_many_buffers_of_content_round_trip(store):
    data = os.urandom(5 * content_store.PIPE_CHUNK * content_store._Pipeline.BUFFERS // 2 + 12345)
    seen = []
    d, n = store.ingest(io.BytesIO(data), Digest.of(data), len(data), progress=seen.append)
    assert n == len(data) and sum(seen) == len(data) and store.read(d) == data


@pytest.mark.parametrize("stream", [lambda b: Trickle(b, 7777), ReadOnly])
def test_short_reads(store, stream):
    data = os.urandom(9 << 20)
    d, _ = store.ingest(stream(data), Digest.of(data), len(data))
    assert store.verify(d) and store.size(d) == len(data)


def test_source_error_leaves_nothing(store):
    data = os.urandom(12 << 20)
    with pytest.raises(ConnectionResetError):
        store.ingest(Trickle(data, 1 << 20, fail_at=6 << 20), Digest.of(data), len(data))
    assert list(store.walk()) == [] and list(store.ingest_dir.iterdir()) == []


def test_write_error_is_raised_and_leaves_nothing(store):
    data = os.urandom(10 << 20)

    class Full:
        """The temp file on a full disk: writes fail, the rest is the real file."""

        def __init__(self, f):
            self.f = f

        def write(self, b):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    with pytest.raises(OSError, match="No space left"), store.writer(Digest.of(data)) as w:
        w._file = Full(w._file)
        w.copy_from(io.BytesIO(data))
    assert list(store.walk()) == [] and list(store.ingest_dir.iterdir()) == []


def test_mismatch_detected_after_pipeline(store):
    data = os.urandom(9 << 20)
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(data), Digest.of(b"other"), len(data))
    assert list(store.walk()) == []


@pytest.mark.parametrize("size", [10_000, 2 << 20], ids=["one-read", "pipelined"])
def test_ingest_buffers_are_sized_by_the_blob(store, size):
    """A pull ingests many small blobs (configs, tiny layers): buffers are no bigger than
    the blob and made only when needed, not six 4 MB ones for each blob."""
    import tracemalloc

    data = os.urandom(size)
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        digest, n = store.ingest(stream, Digest.of(data), size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (digest, n) == (Digest.of(data), size)
    assert store.read(digest) == data
    assert peak < 3 * size + (1 << 20)


def test_pipelined_ingest_starts_writeback_as_it_writes(store, monkeypatch):
    """A 20 MB layer's writeback starts while it streams in (so its commit's fsync waits on
    little), and the blob stored is still exactly the stream's."""
    started: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_DONTNEED:
            started.append((offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(content_store.os, "posix_fadvise", spy)
    data = os.urandom(20 << 20)
    digest, _ = store.ingest(Trickle(data, 1 << 20), Digest.of(data), len(data))
    assert store.read(digest) == data
    assert started and started[0][0] == 0
    assert sum(n for _, n in started) >= 16 << 20
