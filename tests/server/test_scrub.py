"""``wharfie registry scrub`` finds blobs whose content no longer matches their digest."""

from __future__ import annotations

import os
import subprocess
import sys

from regtest import Http, errors_of


def scrub(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wharfie", "--root", str(server.data.parent),
                           "registry", "scrub", "--data", str(server.data), *args],
                          capture_output=True, text=True)


def test_scrub_reports_and_deletes_damaged_blobs(start_registry):
    server = start_registry()
    http = Http(server.url)
    good = http.push_blob("scrub/app", os.urandom(5000))
    bad = http.push_blob("scrub/app", os.urandom(5000))
    res = scrub(server)
    assert res.returncode == 0 and res.stdout.strip() == "checked 2 blobs, 0 damaged"
    path = server.data / "storage" / "blobs" / "sha256" / bad.split(":")[1]
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    res = scrub(server)
    assert res.returncode == 1
    assert f"damaged blob {bad}: content hashes to sha256:" in res.stdout
    assert res.stderr.strip() == ("wharfie: error: 1 damaged blobs "
                                  "(run with --delete to remove them)")
    res = scrub(server, "--delete")
    assert res.returncode == 0 and "checked 2 blobs, 1 damaged, deleted" in res.stdout
    r = http("GET", f"/v2/scrub/app/blobs/{bad}")
    assert r.status == 404 and errors_of(r) == ["BLOB_UNKNOWN"]
    assert http("GET", f"/v2/scrub/app/blobs/{good}").status == 200
