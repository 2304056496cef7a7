"""Upload sessions expire: an abandoned session is unknown after the TTL, and its data gone."""

from __future__ import annotations

import os
import time

from regtest import Http, errors_of, sha


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
