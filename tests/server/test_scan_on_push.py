"""``wharfie registry serve --scan-on-push``: real servers on 127.0.0.1, real pushes. A
pushed image gets its SARIF scan report as an OCI referrer, in the background; a second
push of it adds none; artifacts and indexes are not scanned; without a database the server
refuses to start; the web UI shows the counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from regtest import OCI_INDEX, Http, free_port, sha, wait_for_port
from tests.security.conftest import OSV_REQUESTS, STEPS, TRACKER, rootfs

from wharfie.api import Client
from wharfie.images.imagestore import ImageStore
from wharfie.testing import random
from wharfie.testing.random import add_image

SARIF = "application/sarif+json"
SCAN = "org.wharfie.scan."


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wharfie", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def vulndb(tmp_path):
    """A root holding a vulnerability database with real CVE facts (tests/security)."""
    root = tmp_path / "vulndb-root"
    (tmp_path / "tracker.json").write_text(json.dumps(TRACKER))
    (tmp_path / "osv.jsonl").write_text(json.dumps(OSV_REQUESTS) + "\n")
    for path in ("tracker.json", "osv.jsonl"):
        res = cli("--root", str(root), "db", "import", str(tmp_path / path))
        assert res.returncode == 0, res.stderr
    return root


@pytest.fixture
def local(tmp_path):
    """A client on a local store with app:vulnerable (glibc CVE-2023-4911, HIGH, and
    requests GHSA-j8r2-6x86-q33q, MEDIUM) and app:fixed (no finding)."""
    root = tmp_path / "local"
    images = ImageStore(root)
    add_image(images, "app:vulnerable", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0"))
    add_image(images, "app:fixed", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u3")}, "2.31.0"))
    images.close()
    return Client(root)


@dataclass
class ScanningServer:
    host: str
    http: Http
    log: Path


@pytest.fixture
def scanning(tmp_path, vulndb):
    """Start ``serve --scan-on-push`` on ``data`` (its stderr kept in a file); stopped at
    the end of the test."""
    procs = []

    def start(data: Path = tmp_path / "registry-data") -> ScanningServer:
        port, log = free_port(), tmp_path / f"serve-{len(procs)}.log"
        with open(log, "wb") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "wharfie", "--root", str(tmp_path / "serve-root"),
                 "registry", "serve", "-q", "--scan-on-push", "--scan-db", str(vulndb),
                 "--addr", f"127.0.0.1:{port}", "--data", str(data)], stderr=err))
        wait_for_port(port)
        return ScanningServer(f"127.0.0.1:{port}", Http(f"http://127.0.0.1:{port}"), log)

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def tar_image(http: Http, repo: str, tag: str) -> str:
    """Push a small image whose one layer is a real tar; returns its digest."""
    return http.push_image(repo, tag, layers=[random.tar_layer({"etc/note": os.urandom(8)})])[0]


def reports(http: Http, repo: str, digest: str) -> list[dict]:
    r = http("GET", f"/v2/{repo}/referrers/{digest}")
    assert r.status == 200, r.data
    return [m for m in json.loads(r.data)["manifests"] if m.get("artifactType") == SARIF]


def wait_for_report(http: Http, repo: str, digest: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = reports(http, repo, str(digest))
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{repo}@{digest}: no scan report after {timeout}s")


def test_push_gets_a_sarif_referrer(scanning, local):
    scanning = scanning()
    digest = local.push("app:vulnerable", f"{scanning.host}/team/app:1").digest
    found = wait_for_report(scanning.http, "team/app", digest)
    notes = found["annotations"]
    assert {k: v for k, v in notes.items() if k.startswith(SCAN) and k != SCAN + "db-date"} \
        == {SCAN + "critical": "0", SCAN + "high": "1", SCAN + "medium": "1",
            SCAN + "low": "0", SCAN + "unknown": "0"}
    assert time.strptime(notes[SCAN + "db-date"], "%Y-%m-%dT%H:%M:%SZ")
    manifest = json.loads(scanning.http("GET", f"/v2/team/app/manifests/{found['digest']}").data)
    assert manifest["artifactType"] == SARIF and manifest["subject"]["digest"] == str(digest)
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SARIF
    sarif = json.loads(scanning.http("GET", f"/v2/team/app/blobs/{layer['digest']}").data)
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CVE-2023-4911", "GHSA-j8r2-6x86-q33q"}
    assert sarif["runs"][0]["properties"]["digest"] == str(digest)


def test_same_image_pushed_again_is_not_scanned_again(scanning, local):
    scanning = scanning()
    digest = local.push("app:vulnerable", f"{scanning.host}/app:1").digest
    wait_for_report(scanning.http, "app", digest)
    local.push("app:vulnerable", f"{scanning.host}/app:1")
    local.push("app:vulnerable", f"{scanning.host}/app:again")
    # One worker, first in first out: once a later push is scanned, these were handled.
    wait_for_report(scanning.http, "app", local.push("app:fixed", f"{scanning.host}/app:2").digest)
    assert len(reports(scanning.http, "app", digest)) == 1


def test_artifacts_and_indexes_are_not_scanned_and_failures_are_logged(scanning):
    server = scanning()
    http = server.http
    image, raw = http.push_image("things", "image", layers=[random.tar_layer({"a": b"b"})])
    broken = http.push_image("things", "not-a-tar")[0]  # a layer of random bytes
    config = http.push_blob("things", b"{}")
    layer = http.push_blob("things", b'{"a": "note"}')
    artifacts = {
        "referrer": {"subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                 "digest": image, "size": len(raw)}},
        "typed": {"artifactType": "application/vnd.example.note"},
    }
    pushed = []
    for tag, fields in artifacts.items():
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config,
                          "size": 2},
               "layers": [{"mediaType": "application/vnd.example.note", "digest": layer,
                           "size": 13}], **fields}
        body = json.dumps(doc).encode()
        assert http.push_manifest("things", tag, body).status == 201
        pushed.append(sha(body))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image,
         "size": len(raw), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    assert http.push_manifest("things", "index", index, OCI_INDEX).status == 201
    pushed.append(sha(index))
    wait_for_report(http, "things", tar_image(http, "things", "later"))
    wait_for_report(http, "things", image)
    for digest in [*pushed, broken]:
        assert reports(http, "things", digest) == []
    [line] = [x for x in server.log.read_text().splitlines() if "scan-on-push" in x]
    assert f"scan-on-push: things@{broken} not scanned: " in line
    assert "Traceback" not in server.log.read_text()


def test_serve_without_database_refuses_in_one_line(tmp_path):
    res = cli("--root", str(tmp_path / "root"), "registry", "serve", "--scan-on-push",
              "--addr", f"127.0.0.1:{free_port()}", "--data", str(tmp_path / "data"))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("wharfie: error: --scan-on-push: no vulnerability database "
                                 f"in {tmp_path / 'root'}: run `wharfie --root "), res.stderr
    assert "db import PATH" in res.stderr


def test_ui_shows_scan_counts_and_not_scanned(start_registry, scanning, local, tmp_path):
    data = tmp_path / "registry-data"
    plain = start_registry(data=data)  # no scanning: app:old stays unscanned
    local.push("app:fixed", f"{plain.host}/app:old")
    plain.proc.terminate()
    plain.proc.wait(10)
    server = scanning(data)
    http = server.http
    digest = local.push("app:vulnerable", f"{server.host}/app:new").digest
    report = wait_for_report(http, "app", digest)

    rows = {r["tag"]: r for r in json.loads(http("GET", "/ui/api/repos/app/-/tags").data)["tags"]}
    assert rows["old"]["scan"] is None
    assert rows["new"]["scan"]["counts"] == {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 1, "LOW": 0,
                                             "UNKNOWN": 0}
    page = http("GET", "/ui/repos/app/-/tags").data.decode()
    cells = [c.split("</td>")[0].strip() for c in page.split('<td class="scan">')[1:]]
    assert cells == ["1 high, 1 medium", "not scanned"]  # new, old (sorted by tag)

    view = json.loads(http("GET", "/ui/api/repos/app/-/m/new").data)
    assert view["scan"]["report"] == report["digest"] and view["scan"]["total"] == 2
    image_page = http("GET", "/ui/repos/app/-/m/new").data.decode()
    assert "Vulnerable: 1 high, 1 medium" in image_page
    assert f'href="/ui/repos/app/-/m/{report["digest"]}"' in image_page
    sarif = http("GET", f"/v2/app/blobs/{view['scan']['sarif']}")
    assert sarif.status == 200 and b"CVE-2023-4911" in sarif.data
    old_page = http("GET", "/ui/repos/app/-/m/old").data.decode()
    assert "Not scanned." in old_page
