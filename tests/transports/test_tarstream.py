"""TarWriter: ``on_chunk`` (save's hash) runs beside the copy, in order, and a file being
written has its writeback started as it goes."""

from __future__ import annotations

import io
import os
import tarfile
import threading

from wharfie.transports import tarstream
from wharfie.transports.tarstream import TarWriter


class Recording(io.BytesIO):
    """An output that signals each write, so a test can wait for the copy to go on."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.wrote = threading.Condition()

    def write(self, data) -> int:
        n = super().write(data)
        with self.wrote:
            self.writes += 1
            self.wrote.notify_all()
        return n


def test_on_chunk_sees_every_chunk_in_order_while_the_copy_goes_on(monkeypatch):
    """Each chunk's on_chunk (but the last's) waits until the next chunk has been written:
    possible only if it runs beside the copy (it used to run before each write)."""
    monkeypatch.setattr(tarstream, "CHUNK", 1000)
    data = bytes(range(256)) * 20  # 6 chunks, the last one short
    out = Recording()
    tar = TarWriter(out)
    seen: list[bytes] = []

    def on_chunk(chunk: bytes) -> None:
        if len(chunk) == 1000:  # not the last: the header and this chunk, then the next one
            with out.wrote:
                assert out.wrote.wait_for(lambda: out.writes >= len(seen) + 3, timeout=10), \
                    "on_chunk holds up the copy"
        seen.append(chunk)

    tar.add_stream("blob", len(data), io.BytesIO(data), on_chunk)
    tar.close()
    assert b"".join(seen) == data and len(seen) == 6
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.extractfile("blob").read() == data


def fadvise_calls(monkeypatch) -> list[tuple[int, int, int, int]]:
    """The posix_fadvise calls made (each still made for real)."""
    calls: list[tuple[int, int, int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((fd, offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    return calls


def test_writing_to_a_file_starts_its_writeback_as_it_goes(monkeypatch, tmp_path):
    """Every WRITEBACK_EVERY bytes, the range written since is handed to the disk, from the
    file position the writer started at, so a final fsync finds little left. (A pipe gets
    none: test_archive_cli saves to one.)"""
    monkeypatch.setattr(tarstream, "WRITEBACK_EVERY", 64 << 10)
    monkeypatch.setattr(tarstream, "CHUNK", 50_000)
    calls = fadvise_calls(monkeypatch)
    data = os.urandom(300_000)
    path = tmp_path / "out.tar"
    with open(path, "wb") as f:
        f.write(b"x" * 1000)  # the tar starts after what is already there
        tar = TarWriter(f)
        tar.add_stream("blob", len(data), io.BytesIO(data))
        tar.close()
        ranges = [(off, n) for fd, off, n, advice in calls
                  if fd == f.fileno() and advice == os.POSIX_FADV_DONTNEED]
    assert ranges[0][0] == 1000  # from where the tar starts, each range after the last
    assert all(a + n == b for (a, n), (b, _) in zip(ranges, ranges[1:], strict=False))
    end = ranges[-1][0] + ranges[-1][1]  # to within WRITEBACK_EVERY of the data's end
    assert 1000 + len(data) - (64 << 10) < end <= 1000 + len(data) + 512
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()[1000:])) as tf:
        assert tf.extractfile("blob").read() == data
