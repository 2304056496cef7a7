"""Garbage collection: what it keeps, what it deletes, and pushes racing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from regtest import OCI_INDEX, OCI_MANIFEST, Http, sha

from wharfie.server.gc import collect, first_found, mark, sweep
from wharfie.server.repositories import RegistryStore, blob_key
from wharfie.server.storage.filesystem import FilesystemDriver


def age(storage: Path, seconds: float = 7200) -> None:
    """Make everything look ``seconds`` old, as if pushed long ago."""
    t = time.time() - seconds
    for dirpath, _, files in os.walk(storage):
        for f in files:
            os.utime(os.path.join(dirpath, f), (t, t))


def gc(server, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", str(server.data.parent),
                          "registry", "gc", "--data", str(server.data), *args],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def blob_ok(http: Http, repo: str, digest: str) -> bool:
    r = http("GET", f"/v2/{repo}/blobs/{digest}")
    return r.status == 200 and sha(r.data) == digest


def test_gc_keeps_what_is_reachable(start_registry):
    server = start_registry()
    http = Http(server.url)
    kept_digest, kept = http.push_image("gc/app", "v1", [os.urandom(3000)])
    gone_digest, gone = http.push_image("gc/app", "old", [os.urandom(3000)])
    http("DELETE", "/v2/gc/app/manifests/old")
    orphan = http.push_blob("gc/app", os.urandom(500))
    # A multi-arch index whose children are untagged, and a referrer to the tagged image.
    c1, c1raw = http.push_image("gc/multi", None, [os.urandom(100)])
    c2, c2raw = http.push_image("gc/multi", None, [os.urandom(100)])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": len(raw),
         "platform": {"architecture": a, "os": "linux"}}
        for d, raw, a in ((c1, c1raw, "amd64"), (c2, c2raw, "arm64"))]}).encode()
    assert http.push_manifest("gc/multi", "latest", index, OCI_INDEX).status == 201
    ref_digest, _ = http.push_image("gc/app", None, [os.urandom(50)], extra={
        "artifactType": "application/vnd.example.sbom",
        "subject": {"mediaType": OCI_MANIFEST, "digest": kept_digest, "size": len(kept)}})
    upload = http("POST", "/v2/gc/app/blobs/uploads/").headers["Location"]
    partial = os.urandom(2000)
    http("PATCH", upload, body=partial)
    age(server.data / "storage")

    dry = gc(server, "--dry-run", "--delete-untagged")
    assert f"would delete manifest gc/app@{gone_digest}" in dry
    assert http("GET", f"/v2/gc/app/manifests/{gone_digest}").status == 200  # dry: untouched
    # The first mark deletes the untagged manifest but no blob: a blob goes only when two
    # marks a grace period apart find it unreferenced.
    first = gc(server, "--delete-untagged")
    assert f"deleted manifest gc/app@{gone_digest}" in first
    assert "deleted 1 manifests, 0 blobs" in first
    assert http("GET", f"/v2/gc/app/manifests/{gone_digest}").status == 404
    assert blob_ok(http, "gc/app", orphan)
    age(server.data / "storage")  # the first mark's record too
    fresh_orphan = http.push_blob("gc/app", os.urandom(700))  # within the grace period

    assert f"would delete blob {orphan}" in gc(server, "--dry-run", "--delete-untagged")
    assert blob_ok(http, "gc/app", orphan)
    gc(server, "--delete-untagged")
    gone_layer = json.loads(gone)["layers"][0]["digest"]
    for d in (gone_layer, orphan):
        assert not blob_ok(http, "gc/app", d)
        assert not list((server.data / "storage" / "blobs").rglob(d.split(":")[1]))
    for d in [json.loads(kept)["config"]["digest"], json.loads(kept)["layers"][0]["digest"],
              fresh_orphan]:
        assert blob_ok(http, "gc/app", d)
    assert http("GET", f"/v2/gc/app/manifests/{ref_digest}").status == 200
    for d, raw in ((c1, c1raw), (c2, c2raw)):
        assert http("GET", f"/v2/gc/multi/manifests/{d}").data == raw
        assert blob_ok(http, "gc/multi", json.loads(raw)["layers"][0]["digest"])
    # The upload in progress survived and still completes.
    rest = os.urandom(10)
    r = http("PUT", f"{upload}?digest={sha(partial + rest)}", body=rest)
    assert r.status == 201


def test_gc_without_delete_untagged_keeps_untagged_manifests(start_registry):
    server = start_registry()
    http = Http(server.url)
    digest, raw = http.push_image("gc2/app", "t")
    http("DELETE", "/v2/gc2/app/manifests/t")
    orphan = http.push_blob("gc2/app", os.urandom(100))
    age(server.data / "storage")
    out = gc(server)
    age(server.data / "storage")
    gc(server)
    assert "manifest" not in out.split("\n")[0] or "0 manifests" in out
    assert http("GET", f"/v2/gc2/app/manifests/{digest}").data == raw
    assert blob_ok(http, "gc2/app", json.loads(raw)["layers"][0]["digest"])
    assert not blob_ok(http, "gc2/app", orphan)


def test_pushes_racing_gc_never_lose_a_blob(start_registry):
    """Pushes race repeated collections; one layer of each image is old garbage its
    repository already has (the client skips it after a HEAD). Every image that was pushed
    must stay complete, and unused garbage must go."""
    server = start_registry()
    http = Http(server.url, maxsize=8)
    per, used = 8, 32
    garbage = [os.urandom(2000) for _ in range(used + 4)]  # the last 4 are never re-used
    for g in garbage[used:]:
        http.push_blob("race/old", g)
    for n in range(4):  # old blobs the pushers' repositories already have: HEAD says 200
        for i in range(per):
            http.push_blob(f"race/p{n}", garbage[n * per + i])
    store = RegistryStore(FilesystemDriver(server.data / "storage"))
    collect(store)  # the first mark, a grace period ago
    age(server.data / "storage")
    pushed: list[tuple[str, str, bytes]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def pusher(n: int) -> None:
        try:
            for i in range(per):
                layers = [garbage[n * per + i], os.urandom(500)]
                repo = f"race/p{n}"
                pushed.append((repo, *http.push_image(repo, f"t{i}", layers,
                                                      skip_existing=True)))
        except BaseException as e:  # reported below
            errors.append(e)

    def collector() -> None:
        while not stop.is_set():
            collect(store, delete_untagged=True)

    gcs = threading.Thread(target=collector)
    gcs.start()
    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    gcs.join()
    assert not errors, errors
    collect(store, delete_untagged=True)
    assert len(pushed) == used
    for repo, digest, raw in pushed:
        assert http("GET", f"/v2/{repo}/manifests/{digest}").data == raw
        doc = json.loads(raw)
        for d in [doc["config"]["digest"]] + [x["digest"] for x in doc["layers"]]:
            assert blob_ok(http, repo, d), (repo, d)
    # Old garbage nobody re-used is gone: the collector did run for real.
    for g in garbage[used:]:
        assert not (server.data / "storage" / "blobs" / "sha256" / sha(g)[7:]).exists()


@pytest.mark.parametrize("how", ["head", "mount", "upload"])
def test_a_push_between_mark_and_sweep_keeps_its_old_blobs(start_registry, how):
    """The race grace alone cannot cover: after the mark, a client finds an old
    unreferenced blob (HEAD 200, so it uploads nothing), mounts it from another repository,
    or uploads it again; then references it in a manifest before the sweep."""
    server = start_registry()
    http = Http(server.url)
    old = os.urandom(3000)
    http.push_blob("between/src" if how == "mount" else "between/app", old)
    store = RegistryStore(FilesystemDriver(server.data / "storage"))
    collect(store)  # the first mark, a grace period ago
    age(server.data / "storage")
    marks = mark(store)
    assert sha(old) not in marks.live
    if how == "mount":
        r = http("POST", f"/v2/between/app/blobs/uploads/?mount={sha(old)}&from=between/src")
        assert r.status == 201
    elif how == "upload":
        http.push_blob("between/app", old)
    digest, raw = http.push_image("between/app", "v1", [old], skip_existing=True)
    report = sweep(store, marks)
    assert sha(old) not in {d for d, _ in report.blobs}
    assert blob_ok(http, "between/app", sha(old))
    assert http("GET", f"/v2/between/app/manifests/{digest}").data == raw


def test_a_blob_left_aside_by_a_killed_gc_comes_back(start_registry):
    """A GC killed between parking a blob and judging it must not lose a tagged layer."""
    server = start_registry()
    http = Http(server.url)
    _, raw = http.push_image("gc/parked", "v1", [os.urandom(3000)])
    layer = json.loads(raw)["layers"][0]["digest"]
    storage = server.data / "storage"
    home = next((storage / "blobs").rglob(layer.split(":")[1]))
    parked = storage / "gc-parked" / "sha256" / layer.split(":")[1]
    parked.parent.mkdir(parents=True)
    home.rename(parked)
    assert not blob_ok(http, "gc/parked", layer)  # what the killed GC left behind
    gc(server, "--delete-untagged")
    assert blob_ok(http, "gc/parked", layer)
    assert not parked.exists()


def test_gc_remembers_when_it_first_found_a_blob_unreferenced(tmp_path):
    """Runs whose mark took a second (``now`` a second behind the sweep) keep the first
    sighting: a blob must not stay "just found" forever and never be collected."""
    store = RegistryStore(FilesystemDriver(tmp_path))
    data = os.urandom(100)
    store.driver.write(blob_key(sha(data)), data)
    collect(store)
    first = first_found(store)[sha(data)]
    for _ in range(3):
        time.sleep(1.2)
        collect(store, now=time.time() - 1)
    assert abs(first_found(store)[sha(data)] - first) < 1
