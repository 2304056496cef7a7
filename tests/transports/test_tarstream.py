"""TarWriter.add_stream: what it writes is a tar, and ``on_chunk`` (save's hash) runs
beside the copy, in order, its error raised to the caller."""

from __future__ import annotations

import io
import tarfile
import threading

import pytest

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


def test_an_error_in_on_chunk_is_raised_by_add_stream(monkeypatch):
    monkeypatch.setattr(tarstream, "CHUNK", 1000)

    def on_chunk(chunk: bytes) -> None:
        raise ValueError("hash failed")

    with pytest.raises(ValueError, match="hash failed"):
        TarWriter(io.BytesIO()).add_stream("blob", 5000, io.BytesIO(bytes(5000)), on_chunk)
