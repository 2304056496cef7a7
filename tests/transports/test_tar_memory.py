"""load and import of a tar with very many entries: memory stays flat.

``tarfile.TarFile`` keeps a ``TarInfo`` for every member it has read; a 10 MiB
``.tar.gz`` of 1.5 M headers took both commands to 680 MiB. Measured in a fresh
process as the growth of its peak RSS. The peak is ``VmHWM`` of /proc/self/status, not
``getrusage``'s ``ru_maxrss``: the latter carries the parent's peak across fork and exec,
so under a big pytest process it hides any growth below that.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from archive_samples import make_tar
from isal import igzip

from wharfie.errors import InvalidInput
from wharfie.images.imagestore import ImageStore
from wharfie.layers import tarformat as tf
from wharfie.transports import archive

ENTRIES = 200_000
MAX_GROWTH_MIB = 32  # streaming: ~5; keeping every TarInfo: ~90

MEASURE = """
import sys
from wharfie.content.blobstore import ContentStore
from wharfie.errors import WharfieError
from wharfie.images.imagestore import ImageStore
from wharfie.transports.archive import load_archive
from wharfie.transports.importer import import_rootfs

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) // 1024

command, archive, root = sys.argv[1:]
before = rss()
with open(archive, "rb") as f:
    try:
        if command == "load":
            load_archive(f, ImageStore(root))
        else:
            import_rootfs(f, ContentStore(root).ensure())
    except WharfieError as e:  # load: a tree of directories is no image archive
        assert "no manifest.json" in str(e), e
print(rss() - before)
"""


def many_directories(path, n: int) -> None:
    """A .tar.gz of ``n`` directory entries: 512 bytes of header each, a few of gzip."""
    with igzip.open(path, "wb", compresslevel=1) as out:
        for start in range(0, n, 10_000):
            out.write(b"".join(tf.header(b"d%07d/" % i, tf.DIR, mode=0o755)
                               for i in range(start, min(n, start + 10_000))))
        out.write(tf.END_OF_ARCHIVE)


def test_load_and_import_memory_does_not_grow_with_entries(tmp_path):
    archive = tmp_path / "many.tar.gz"
    many_directories(archive, ENTRIES)
    procs = {command: subprocess.Popen(
        [sys.executable, "-c", MEASURE, command, str(archive), str(tmp_path / command)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE) for command in ("load", "import")}
    for command, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        growth = int(out)
        assert growth < MAX_GROWTH_MIB, f"{command}: {growth} MiB for {ENTRIES} entries"


def test_load_index_is_bounded(tmp_path, monkeypatch):
    """Files and links are indexed until the stream ends; past a bound the archive is
    refused (with the bound made small here, not by writing 100 000 entries)."""
    monkeypatch.setattr(archive, "MAX_ENTRIES", 10)
    data = make_tar([(f"l{i}", "target") for i in range(20)])
    store = ImageStore(tmp_path / "root")
    with pytest.raises(InvalidInput, match="more than 10 files and links"):
        archive.load_archive(io.BytesIO(data), store)
    assert list(store.content.walk()) == []
