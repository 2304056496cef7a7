import io
import json
import multiprocessing
import os
import threading
import time

import pytest

from wharfie.content import blobstore
from wharfie.content.blobstore import ContentStore
from wharfie.errors import DigestMismatch, NotFound
from wharfie.oci.digest import Digest


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "root").ensure()


def test_layout_is_an_oci_image_layout(store):
    assert (store.root / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert json.loads((store.root / "index.json").read_bytes()) == {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": []}


def test_ingest_verifies_and_publishes(store):
    data = os.urandom(3 << 20)
    d, n = store.ingest(io.BytesIO(data), expected=Digest.of(data), size=len(data))
    assert n == len(data) and store.read(d) == data
    assert store.path(d) == store.root / "blobs" / "sha256" / d.hex
    assert list(store.ingest_dir.iterdir()) == []


def test_wrong_digest_leaves_nothing(store):
    wrong = Digest.of(b"other")
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(b"payload"), expected=wrong)
    assert not store.exists(wrong) and list(store.walk()) == []
    assert list(store.ingest_dir.iterdir()) == []


def test_wrong_size_leaves_nothing(store):
    with pytest.raises(DigestMismatch, match="size"):
        store.ingest(io.BytesIO(b"payload"), size=3)
    assert list(store.walk()) == []


def test_missing_blob_is_not_found(store):
    with pytest.raises(NotFound):
        store.open(Digest.of(b"nope"))


def _ingest_same(root, data):
    s = ContentStore(root)
    for _ in range(20):
        s.ingest(io.BytesIO(data))


def test_concurrent_ingest_of_same_blob(tmp_path):
    root = tmp_path / "root"
    ContentStore(root).ensure()
    data = os.urandom(1 << 20)
    procs = [multiprocessing.Process(target=_ingest_same, args=(root, data)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    s = ContentStore(root)
    assert s.verify(Digest.of(data)) and len(list(s.walk())) == 1


def test_abandoned_ingest_is_cleaned_but_live_one_is_not(store):
    stale = store.ingest_dir / "123-dead.tmp"
    stale.write_bytes(b"half")
    live = store.writer()
    live.write(b"in progress")
    assert store.cleanup_ingests(min_age=0) == 1
    assert not stale.exists() and live.path.exists()
    d = live.commit()
    assert store.read(d) == b"in progress"


def test_the_layout_is_created_once_when_threads_ask_together(tmp_path, monkeypatch):
    """A pull's first blob and its store lookup both make the layout of a new store."""
    writes = []
    real_write = blobstore.atomic_write

    def slow_write(path, data, **kw):
        writes.append(path.name)
        time.sleep(0.05)  # keep the window open for the other threads
        real_write(path, data, **kw)

    monkeypatch.setattr(blobstore, "atomic_write", slow_write)
    store = ContentStore(tmp_path / "root")
    threads = [threading.Thread(target=store.ensure) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writes.count("oci-layout") == 1
    assert (tmp_path / "root" / "oci-layout").read_bytes() == blobstore.OCI_LAYOUT
