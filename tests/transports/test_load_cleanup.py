"""A failed load cleans up after itself: no blob it added, no ingest file, whatever the
failure (bad input, a sparse bomb, Ctrl-C, a full disk). Blobs it did not add stay."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading

import pytest
from archive_samples import make_tar, sha
from test_archive_cli import one_error_line

from wharfie.content import blobstore
from wharfie.errors import NotFound
from wharfie.images.imagestore import ImageStore
from wharfie.transports import archive
from wharfie.transports.archive import load_archive


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(tmp_path / "root")


def leftovers(store: ImageStore) -> tuple[set[str], list[str]]:
    """The blobs on disk and the files in ingest/."""
    return {str(d) for d, _ in store.content.walk()}, os.listdir(store.content.ingest_dir)


def layer(name: str, size: int) -> bytes:
    return make_tar([(name, (name.encode() * size)[:size])])


def docker_archive(layers: list[bytes], *, missing: int = 0,
                   first: list[tuple[str, bytes]] = ()) -> bytes:
    """A docker-archive of ``layers``, config first (after the entries ``first``), whose
    manifest.json also names ``missing`` layer files the archive does not hold."""
    diff_ids = [f"sha256:{sha(t)}" for t in layers] + ["sha256:" + "0" * 64] * missing
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    paths = [f"{sha(t)}.tar" for t in layers] + [f"gone{i}.tar" for i in range(missing)]
    manifest = [{"Config": "config.json", "RepoTags": ["a:1"], "Layers": paths}]
    return make_tar([*first, ("config.json", config), *zip(paths, layers, strict=False),
                     ("manifest.json", json.dumps(manifest).encode())])


def test_failed_load_removes_the_blobs_it_added_and_only_those(store):
    load_archive(io.BytesIO(docker_archive([layer("old", 1000)])), store)
    orphan = store.content.put(b"a blob no image needs, from before the load")
    before = leftovers(store)
    bad = docker_archive([layer("old", 1000), layer("new", 5000)], missing=1)
    with pytest.raises(NotFound, match="not in the archive"):
        load_archive(io.BytesIO(bad), store)
    assert leftovers(store) == before  # its config and new layer are gone; the rest stays
    assert str(orphan) in before[0]


def test_interrupted_load_removes_what_it_wrote(store):
    calls = []

    def progress(n: int) -> None:
        calls.append(n)
        if len(calls) == 3:  # config and first layer stored; Ctrl-C in the second layer
            raise KeyboardInterrupt

    data = docker_archive([layer("one", 3000), layer("two", 3000)])
    with pytest.raises(KeyboardInterrupt):
        load_archive(io.BytesIO(data), store, progress=progress)
    assert leftovers(store) == (set(), [])


def test_interrupted_file_load_stops_every_blob_in_flight(store, tmp_path, monkeypatch):
    """A tar file's blobs are ingested two at a time; Ctrl-C in one stops the other at its
    next window, and neither leaves a blob or an ingest file."""
    monkeypatch.setattr(archive, "INGEST_JOBS", 2)
    monkeypatch.setattr(blobstore, "REGION_WINDOW", 64 << 10)
    path = tmp_path / "a.tar"
    path.write_bytes(docker_archive([layer(f"l{i}", 1 << 20) for i in range(3)]))
    both_in_flight = threading.Barrier(2, timeout=10)
    threads: set[int] = set()

    def progress(n: int) -> None:
        if threading.get_ident() not in threads:
            threads.add(threading.get_ident())
            if both_in_flight.wait() == 0:  # one of the two
                raise KeyboardInterrupt

    with open(path, "rb") as f, pytest.raises(KeyboardInterrupt):
        load_archive(f, store, progress=progress)
    assert leftovers(store) == (set(), [])


def test_file_load_stores_only_the_last_of_entries_with_one_name(store, tmp_path):
    """A name given twice is the later entry's (as tar extracts it); the earlier one is not
    stored either, so the load leaves no blob that its image does not need."""
    good = layer("good", 5000)
    path = tmp_path / "a.tar"
    path.write_bytes(docker_archive([good], first=[(f"{sha(good)}.tar", b"an earlier entry")]))
    with open(path, "rb") as f:
        (loaded,) = load_archive(f, store)
    image = store.resolve(str(loaded.manifest_digest))
    assert leftovers(store)[0] == {str(loaded.manifest_digest)} | \
        {str(d.digest) for d in image.blobs()}


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_sparse_member_is_refused_before_it_is_expanded(wharfie, root, tmp_path, fmt):
    """GNU and PAX sparse entries: a few KiB of map for any size of zeros."""
    hole = tmp_path / "layer.tar"
    with open(hole, "wb") as f:
        f.truncate(64 << 20)
        f.seek(32 << 20)
        f.write(b"data in the middle")
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", f"--format={fmt}", "--sparse", "-cf", str(archive), "-C",
                    str(tmp_path), "layer.tar"], check=True)
    assert archive.stat().st_size < 64 << 10
    err = one_error_line(wharfie("load", "-i", str(archive), check=False))
    assert "layer.tar" in err and "sparse" in err
    assert leftovers(ImageStore(root)) == (set(), [])


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs of our own, unmounted after the test."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "wharfie-test", str(mnt)],
                   check=True)
    yield mnt
    subprocess.run(["umount", "--lazy", str(mnt)], check=True)  # gone even if a file is open


def test_load_that_fills_the_disk_removes_what_it_wrote(small_disk):
    store = ImageStore(small_disk / "root")
    try:
        store.list()  # the database exists before the disk fills
        before = leftovers(store)
        data = docker_archive([layer("fits", 600 << 10), layer("too-big", 4 << 20)])
        with pytest.raises(OSError) as info:
            load_archive(io.BytesIO(data), store)
        assert "No space left" in str(info.value)
        assert leftovers(store) == before
    finally:
        store.close()  # the database file, so that the tmpfs can be unmounted
