"""Abandoned ingest files: told from live ones by their flock, whatever their age."""

from __future__ import annotations

import pytest

from wharfie.content.blobstore import ContentStore


@pytest.fixture
def store(tmp_path):
    return ContentStore(tmp_path / "root").ensure()


def test_cleanup_takes_a_fresh_abandoned_ingest_but_not_a_live_one(store):
    """No age is needed (it used to spare files under a minute old): a live writer holds
    its file's flock, and a dead one's lock went with its descriptor."""
    dead = store.writer()
    dead.write(b"half a blob")
    dead._file.close()  # as if its process had been killed
    live = store.writer()
    live.write(b"in progress")
    assert store.cleanup_ingests() == 1
    assert not dead.path.exists() and live.path.exists()
    assert store.read(live.commit()) == b"in progress"
