"""layers/contentsize.py: a layer's contents as Docker sizes them, and corrupt layers named."""

from __future__ import annotations

import errno
import gzip
import io
import tarfile

import pytest
import zstandard

from wharfie.errors import InvalidInput
from wharfie.layers.contentsize import content_size


def layer() -> bytes:
    """A tar with a file written twice, a symlink, a hard link, a directory and a fifo."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        def add(name: str, kind: bytes, data: bytes = b"", linkname: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data), linkname
            tf.addfile(info, io.BytesIO(data))

        add("etc", tarfile.DIRTYPE)
        add("etc/motd", tarfile.REGTYPE, b"x" * 100)
        add("etc/motd", tarfile.REGTYPE, b"y" * 30)   # the last one counts
        add("etc/link", tarfile.SYMTYPE, linkname="motd")  # 4 bytes of target
        add("etc/hard", tarfile.LNKTYPE, linkname="etc/motd")
        add("run/fifo", tarfile.FIFOTYPE)
    return out.getvalue()


@pytest.mark.parametrize("wrap", [bytes, gzip.compress, zstandard.compress],
                         ids=["plain", "gzip", "zstd"])
def test_a_layer_is_sized_as_docker_sizes_it(wrap):
    assert content_size(io.BytesIO(wrap(layer()))) == 34


@pytest.mark.parametrize("data", [
    (lambda z: z[:len(z) // 2])(gzip.compress(layer())),  # cut short
    b"\x1f\x8b" + b"not gzip at all" * 40,   # a gzip header, then garbage
    b"\x28\xb5\x2f\xfd" + b"\xff" * 100,     # a zstd header, then garbage
    b"neither tar nor anything" * 40,
], ids=["truncated-gzip", "bad-gzip", "bad-zstd", "garbage"])
def test_a_corrupt_layer_is_named_as_such(data):
    with pytest.raises(InvalidInput, match="not a layer tar"):
        content_size(io.BytesIO(data))


class _Failing(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        raise OSError(errno.EIO, "Input/output error")


def test_a_failing_disk_is_not_taken_for_a_corrupt_layer():
    with pytest.raises(OSError) as caught:
        content_size(io.BufferedReader(_Failing()))
    assert caught.value.errno == errno.EIO and not isinstance(caught.value, InvalidInput)
