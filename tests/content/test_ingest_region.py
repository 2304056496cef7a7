"""ContentStore.ingest of a FileRegion: a region of an open file copied in the kernel and
hashed where it landed; verified like any ingest, and nothing is left when it fails."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from wharfie.content import blobstore
from wharfie.content.blobstore import ContentStore, FileRegion
from wharfie.errors import DigestMismatch


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "root").ensure()


@pytest.fixture
def source(tmp_path):
    """A file holding a blob between other bytes, open for reading: (fd, offset, blob)."""
    rng = random.Random(7)
    before, blob, after = rng.randbytes(1000), rng.randbytes(300_001), rng.randbytes(777)
    path = tmp_path / "archive.bin"
    path.write_bytes(before + blob + after)
    fd = os.open(path, os.O_RDONLY)
    yield fd, len(before), blob
    os.close(fd)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def nothing_left(store: ContentStore) -> bool:
    return list(store.walk()) == [] and os.listdir(store.ingest_dir) == []


def test_region_is_stored_as_the_blob_it_holds(store, source, monkeypatch):
    """Windows smaller than the blob and not page-aligned: every window is hashed."""
    monkeypatch.setattr(blobstore, "REGION_WINDOW", 5000)
    fd, offset, blob = source
    seen = []
    got, size = store.ingest(FileRegion(fd, offset, len(blob)), digest(blob), len(blob),
                             seen.append)
    assert (str(got), size) == (digest(blob), len(blob))
    assert store.read(got) == blob
    assert sum(seen) == len(blob) and len(seen) == -(-len(blob) // 5000)
    assert os.listdir(store.ingest_dir) == []


def test_region_without_an_expected_digest_is_named_by_its_content(store, source):
    fd, offset, blob = source
    got, _ = store.ingest(FileRegion(fd, offset, len(blob)), None, len(blob))
    assert str(got) == digest(blob) and store.verify(got)


def test_region_that_does_not_match_its_digest_is_refused(store, source):
    fd, offset, blob = source
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        store.ingest(FileRegion(fd, offset + 1, len(blob)), digest(blob), len(blob))
    assert nothing_left(store)


def test_region_past_the_end_of_its_file_is_refused(store, source):
    fd, offset, blob = source
    size = len(blob) + 10_000
    with pytest.raises(DigestMismatch, match="size mismatch"):
        store.ingest(FileRegion(fd, offset, size), None, size)
    assert nothing_left(store)
