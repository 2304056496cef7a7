"""The walker's own tar reader reads what tarfile writes (ustar, GNU, PAX: long names and
links, big ids) as tarfile reads it, and refuses damaged or truncated tars."""

from __future__ import annotations

import io
import tarfile

import pytest

from wharfie.errors import InvalidInput
from wharfie.imagefs.tarread import TarReader

LONG = "d/" + "n" * 150 + "/é-file"


def make(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data, kind, link in [("etc/", None, tarfile.DIRTYPE, ""),
                                       ("etc/a", b"x" * 700, tarfile.REGTYPE, ""),
                                       (LONG, b"long", tarfile.REGTYPE, ""),
                                       ("l", None, tarfile.SYMTYPE, "/" + "t" * 120),
                                       ("h", None, tarfile.LNKTYPE, "etc/a")]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.uid, info.mode = kind, link, 3_000_000, 0o640
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_as_tarfile_does(fmt):
    raw = make(fmt)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        expected = [(m.name, m.type, m.size, m.uid, m.mode, m.linkname) for m in tar]
    reader = TarReader(io.BytesIO(raw))
    got, data = [], {}
    for m in reader.members():
        got.append((m.name.rstrip("/"), m.type, m.size, m.uid, m.mode, m.linkname))
        if m.name in ("etc/a", LONG):
            data[m.name] = reader.read()
    assert got == expected
    assert data == {"etc/a": b"x" * 700, LONG: b"long"}


def test_damaged_and_truncated_tars_are_refused():
    raw = bytearray(make(tarfile.PAX_FORMAT))
    with pytest.raises(InvalidInput, match="truncated"):
        list(TarReader(io.BytesIO(bytes(raw[:1500]))).members())
    raw[0] ^= 1  # the first header's checksum no longer matches
    with pytest.raises(InvalidInput, match="checksum"):
        list(TarReader(io.BytesIO(bytes(raw))).members())
