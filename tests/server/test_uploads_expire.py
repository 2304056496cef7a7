"""Upload sessions expire: an abandoned session is unknown after the TTL, and its data gone."""

from __future__ import annotations

import os
import time

from regtest import Http, errors_of, sha

from wharfie.oci.digest import Digest
from wharfie.server.repositories import RegistryStore
from wharfie.server.storage import Driver
from wharfie.server.storage.filesystem import FilesystemDriver


def test_upload_session_expires(start_registry):
    server = start_registry("--upload-ttl", "1")
    http = Http(server.url)
    loc = http("POST", "/v2/exp/repo/blobs/uploads/").headers["Location"]
    assert http("PATCH", loc, body=os.urandom(1000)).status == 202
    assert list((server.data / "storage" / "uploads").iterdir())
    time.sleep(1.5)
    r = http("PUT", f"{loc}?digest={sha(b'x')}")
    assert r.status == 404 and errors_of(r) == ["BLOB_UPLOAD_UNKNOWN"]
    # The background sweep removes abandoned sessions without any request touching them,
    # and spool files of a server process that died mid-request.
    stale = server.data / "storage" / ".tmp" / "up-999999-dead"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 10, time.time() - 10))
    loc2 = http("POST", "/v2/exp/repo/blobs/uploads/").headers["Location"]
    http("PATCH", loc2, body=b"abc")
    deadline = time.monotonic() + 10
    while list((server.data / "storage" / "uploads").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list((server.data / "storage" / "uploads").iterdir()) == []
    assert not stale.exists()


class _LaggingListings(FilesystemDriver):
    """The filesystem, with listings that have not yet seen any upload session, as a
    Swift container listing lags its newest writes."""

    def list(self, prefix: str) -> list[str]:
        return [] if prefix.startswith("uploads") else super().list(prefix)

    def walk(self, prefix: str):
        return ((k, st) for k, st in super().walk(prefix) if not k.startswith("uploads/"))

    delete_tree = Driver.delete_tree  # by listing, as the S3 driver deletes


def test_finished_and_cancelled_uploads_leave_nothing_when_listings_lag(tmp_path):
    """A finished session's info and parts go by key, not by a listing that may miss them."""
    store = RegistryStore(_LaggingListings(tmp_path))
    for finish in (True, False):
        upload_id = store.start_upload("lag/app")
        spool = tmp_path / "chunk"
        spool.write_bytes(b"data")
        store.add_part(upload_id, 0, spool, None, 4)
        if finish:
            store.finish_upload("lag/app", upload_id, Digest.of(b"data"))
        else:
            store.cancel_upload(upload_id)
        left = [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()]
        assert left == [], left


def test_a_session_whose_info_is_not_written_yet_is_not_purged(tmp_path):
    """A purge that runs while a session starts (its directory made, its info not yet
    renamed into place) leaves it alone; parts without info are purged by their own age."""
    store = RegistryStore(FilesystemDriver(tmp_path), upload_ttl=60)
    starting = tmp_path / "uploads" / "starting"
    starting.mkdir(parents=True)
    assert store.purge_expired_uploads(now=time.time() + 3600) == 0
    assert starting.is_dir()
    store.driver.write("uploads/orphan/parts/0", b"old part")
    assert store.purge_expired_uploads(now=time.time() + 30) == 0  # younger than the TTL
    assert store.purge_expired_uploads(now=time.time() + 3600) == 1
    assert store.driver.read("uploads/orphan/parts/0") is None
