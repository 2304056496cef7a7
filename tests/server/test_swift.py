"""The registry on a real S3-compatible distributed store: a 3-node OpenStack Swift cluster
on loopback (scripts/swift-saio.sh: s3api, tempauth, 3 replicas), not a mock."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from regtest import OCI_MANIFEST, Http, make_layout, sha, skopeo

from wharfie.errors import WharfieError
from wharfie.server import gc, repositories
from wharfie.server.repositories import RegistryStore
from wharfie.server.storage.s3 import S3Driver

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
ENV = {"AWS_ACCESS_KEY_ID": "test:tester", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}
MB = 1 << 20


@dataclass
class Swift:
    endpoint: str
    dir: Path

    def s3(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"}))

    def container_bytes(self, name: str) -> int:
        """Bytes Swift itself counts in a container (its own API, which shows the hidden
        ``+segments`` containers that S3 listings do not); 0 if there is none."""
        req = urllib.request.Request(f"{self.endpoint}/auth/v1.0", headers={
            "X-Storage-User": "test:tester", "X-Storage-Pass": "testing"})
        with urllib.request.urlopen(req) as r:
            url, token = r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]
        req = urllib.request.Request(f"{url}/{urllib.parse.quote(name)}", method="HEAD",
                                     headers={"X-Auth-Token": token})
        try:
            with urllib.request.urlopen(req) as r:
                return int(r.headers["X-Container-Bytes-Used"])
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return 0
            raise


def _free_base() -> int:
    """A base port whose offsets the cluster uses (see swift-saio.sh) are all free."""
    offsets = [0, 1] + [10 * n + k for n in (1, 2, 3) for k in (0, 1, 2)]
    for _ in range(100):
        base = random.randrange(20000, 60000, 100)
        try:
            for off in offsets:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
    raise AssertionError("no free port range for Swift")


@pytest.fixture(scope="session")
def swift(tmp_path_factory):
    if shutil.which("swift-proxy-server") is None or shutil.which("memcached") is None:
        subprocess.run([SCRIPTS / "install-system-deps.sh"], check=True)
    path = tmp_path_factory.mktemp("swift")
    base = _free_base()
    try:
        started = subprocess.run([SCRIPTS / "swift-saio.sh", "start", str(path), str(base)],
                                 capture_output=True, timeout=120)
        assert started.returncode == 0, started.stderr.decode()
        yield Swift(f"http://127.0.0.1:{base}", path)
    finally:
        subprocess.run([SCRIPTS / "swift-saio.sh", "stop", str(path)], check=True)


@pytest.fixture(scope="module")
def replicas(start_shared_registry, swift, tmp_path_factory):
    """Two servers on one bucket, the second with two worker processes."""
    args = ["--s3-bucket", "wharfie", "--s3-endpoint", swift.endpoint]
    a = start_shared_registry(*args, data=tmp_path_factory.mktemp("swa"), env=ENV)
    b = start_shared_registry(*args, "--workers", "2", data=tmp_path_factory.mktemp("swb"),
                              env=ENV)
    return a, b


@pytest.fixture(scope="module")
def big_layout(tmp_path_factory):
    """An image with layers of 2 MB, 48 MB and 121 MB: one PUT part, one part over 8 MiB
    (the case managed copies broke), and one above the driver's multipart threshold."""
    src = tmp_path_factory.mktemp("big") / "layout"
    return src, make_layout(src, "v1", (2 * MB, 48 * MB, 121 * MB))


def _same_blobs(src: Path, out: Path) -> None:
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()


def test_skopeo_and_wharfie_push_and_pull_across_replicas(replicas, big_layout, wharfie,
                                                          tmp_path):
    a, b = replicas
    src, digest = big_layout
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1", f"docker://{a.host}/sw/sk:v1")
    out = tmp_path / "skopeo-out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{b.host}/sw/sk:v1", f"oci:{out}:v1")
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
    _same_blobs(src, out)

    wharfie("copy", f"oci:{src}:v1", f"docker://{b.host}/sw/wh:v1")
    out = tmp_path / "wharfie-out"
    wharfie("copy", f"docker://{a.host}/sw/wh:v1", f"oci:{out}:v1")
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
    _same_blobs(src, out)


def test_blob_gets_redirect_to_swift(replicas, big_layout, start_registry, swift, tmp_path):
    a, _ = replicas
    src, _ = big_layout
    c = start_registry("--s3-bucket", "wharfie", "--s3-endpoint", swift.endpoint,
                       "--s3-redirect", env=ENV)
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1", f"docker://{a.host}/sw/redir:v1")
    manifest = json.loads(Http(c.url)("GET", "/v2/sw/redir/manifests/v1").data)
    layer = manifest["layers"][0]
    r = Http(c.url)("GET", f"/v2/sw/redir/blobs/{layer['digest']}")
    assert r.status == 307 and r.headers["Location"].startswith(swift.endpoint)
    with urllib.request.urlopen(r.headers["Location"]) as got:
        assert len(got.read()) == layer["size"]
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{c.host}/sw/redir:v1", f"oci:{out}:v1")
    _same_blobs(src, out)


def test_pushes_leave_no_orphaned_segments(replicas, big_layout, swift, tmp_path):
    """Pushing the same big layers again, to other repositories, through both replicas,
    then pulling them: every byte Swift stores, in the bucket and its hidden
    ``+segments`` container, belongs to an object the registry references."""
    a, b = replicas
    src, _ = big_layout
    for i, server in enumerate((a, b, a)):
        skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1",
               f"docker://{server.host}/sw/again{i}:v1")
        skopeo("copy", "--src-tls-verify=false", f"docker://{server.host}/sw/again{i}:v1",
               f"oci:{tmp_path / str(i)}:v1")
    s3 = swift.s3()
    objects = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket="wharfie")
               for o in page.get("Contents", [])]
    assert not [o["Key"] for o in objects if o["Key"].startswith(("uploads/", "gc-parked/"))]
    assert not s3.list_multipart_uploads(Bucket="wharfie").get("Uploads")
    multipart = sum(o["Size"] for o in objects if "-" in o["ETag"])
    assert settled_bytes(swift, "wharfie+segments", multipart) == multipart


def test_pulls_write_nothing(swift, tmp_path, monkeypatch):
    """A pull's blob lookups leave every object as it was, however old the link."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(repositories, "TOUCH_AFTER", 0.0)
    store = RegistryStore(S3Driver("readonly", endpoint_url=swift.endpoint, spool=tmp_path))
    data = os.urandom(20 * MB)
    path = tmp_path / "blob"
    path.write_bytes(data)
    store.driver.put_file("blobs/sha256/" + "a" * 64, path)
    store.driver.write("repositories/r/_layers/sha256/" + "a" * 64, b"")
    s3 = swift.s3()

    def state():
        return sorted((o["Key"], o["ETag"], o["LastModified"]) for page in
                      s3.get_paginator("list_objects_v2").paginate(Bucket="readonly")
                      for o in page.get("Contents", []))

    before, segments = state(), swift.container_bytes("readonly+segments")
    assert segments == len(data)
    time.sleep(1.1)  # object times have whole seconds
    for _ in range(3):
        assert store.blob_stat("r", "sha256:" + "a" * 64) == len(data)
    assert state() == before
    assert swift.container_bytes("readonly+segments") == segments


def test_wrong_region_is_one_clear_error(swift, tmp_path, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(WharfieError, match="wrong region.*AWS_REGION"):
        S3Driver("wharfie", endpoint_url=swift.endpoint, spool=tmp_path, region="eu-west-1")


def test_dead_store_fails_fast_with_one_line(tmp_path, wharfie):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "wharfie", "--root", str(tmp_path / "root"), "registry",
         "serve", "--addr", "127.0.0.1:0", "--data", str(tmp_path / "data"), "--s3-bucket",
         "wharfie", "--s3-endpoint", f"http://127.0.0.1:{port}"],
        capture_output=True, timeout=60, env={**os.environ, **ENV})
    err = res.stderr.decode()
    assert res.returncode != 0 and time.monotonic() - started < 30
    assert err.startswith("wharfie: error: cannot reach bucket wharfie"), err
    assert "Traceback" not in err


# ---- GC, faults, concurrent tags and orphans (issue 17) ----


def exists(s3, bucket: str, key: str) -> bool:
    """Is the listed object really there? A listing may still name one just deleted."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise


def settled_bytes(swift: Swift, container: str, expected: int) -> int:
    """The container's byte count once Swift has caught up: it updates counts
    asynchronously (the object updater retries what a busy container server missed), so
    run repair passes, a bounded number, until it shows ``expected`` or stops moving."""
    seen = swift.container_bytes(container)
    for _ in range(8):
        if seen == expected:
            break
        _saio(swift, "repair")
        seen = swift.container_bytes(container)
    return seen


def _saio(swift: Swift, *args: str) -> None:
    subprocess.run([SCRIPTS / "swift-saio.sh", args[0], str(swift.dir), *args[1:]],
                   check=True, timeout=300)


def _store(swift: Swift, bucket: str, spool: Path, monkeypatch) -> RegistryStore:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    return RegistryStore(S3Driver(bucket, endpoint_url=swift.endpoint, spool=spool))


def _complete(http: Http, repo: str, ref: str) -> str:
    """Assert the image ``repo:ref`` and every blob it names are served; its digest."""
    r = http("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status == 200, (repo, ref, r.status)
    doc = json.loads(r.data)
    for desc in [doc["config"], *doc["layers"]]:
        got = http("GET", f"/v2/{repo}/blobs/{desc['digest']}")
        assert got.status == 200 and sha(got.data) == desc["digest"], (repo, ref, desc)
    return sha(r.data)


def _push_chunked(hosts: list[Http], repo: str, data: bytes, chunks: int = 3) -> str:
    """Upload in ``chunks`` PATCHes, each through the next replica: every replica must find
    the parts another wrote (a listing of them lags on Swift)."""
    loc = hosts[0]("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    step = -(-len(data) // chunks)
    for i, start in enumerate(range(0, len(data), step)):
        piece = data[start:start + step]
        r = hosts[i % len(hosts)]("PATCH", loc, body=piece, headers={
            "Content-Range": f"{start}-{start + len(piece) - 1}",
            "Content-Type": "application/octet-stream"})
        assert r.status == 202, r.data
        loc = r.headers["Location"]
    r = hosts[chunks % len(hosts)]("PUT", f"{loc}?digest={sha(data)}")
    assert r.status == 201, r.data
    return sha(data)


def _push_image(hosts: list[Http], repo: str, tag: str, size: int = 50_000) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(8).hex(),
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = os.urandom(size)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": hosts[-1].push_blob(repo, config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": _push_chunked(hosts, repo, layer), "size": len(layer)}]}
    raw = json.dumps(doc).encode()
    r = hosts[0].push_manifest(repo, tag, raw)
    assert r.status == 201, r.data
    return sha(raw)


class HidingDriver:
    """The real driver, with one repository left out of every listing, as a Swift
    container listing that missed writes while a node was down."""

    def __init__(self, inner, repo: str) -> None:
        self._inner, self._hidden = inner, f"repositories/{repo}"

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def _shown(self, key: str) -> bool:
        return key != self._hidden and not key.startswith(self._hidden + "/")

    def list(self, prefix: str) -> list[str]:
        return [n for n in self._inner.list(prefix) if self._shown(f"{prefix}/{n}")]

    def walk(self, prefix: str):
        return ((k, st) for k, st in self._inner.walk(prefix) if self._shown(k))


def test_gc_with_a_repository_missing_from_listings_deletes_nothing_live(
        replicas, swift, tmp_path, monkeypatch):
    """Two marks a grace period apart, through a driver whose listings leave out one
    repository: its tagged image stays whole; an orphan elsewhere does go."""
    a, b = replicas
    hosts = [Http(a.url), Http(b.url)]
    hidden = _push_image(hosts, "gchide/app", "v1")
    orphan = hosts[0].push_blob("gcseen/app", os.urandom(3000))
    monkeypatch.setattr(gc, "TOUCH_AFTER", 0.5)
    store = _store(swift, "wharfie", tmp_path, monkeypatch)
    store.driver = HidingDriver(store.driver, "gchide/app")
    assert "gchide/app" not in store.all_repositories()
    reports = []
    for _ in range(3):
        time.sleep(2.1)  # past the grace; S3 times have whole seconds
        reports.append(gc.collect(store, delete_untagged=True, grace=2))
    assert orphan in {d for r in reports for d, _ in r.blobs}  # GC did delete for real
    for http in hosts:
        assert _complete(http, "gchide/app", "v1") == hidden


def _push_racing(http: Http, other: Http, tag: str, barrier: threading.Barrier,
                 results: dict) -> None:
    """Upload an image's blobs, wait for the other client, then push it to ``tag``."""
    config = json.dumps({"who": http.base, "n": os.urandom(8).hex()}).encode()
    layer = os.urandom(20_000)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": http.push_blob("race/tag", config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": _push_chunked([http, other], "race/tag", layer),
                       "size": len(layer)}]}
    raw = json.dumps(doc).encode()
    barrier.wait()
    results[http.base] = (http.push_manifest("race/tag", tag, raw).status, sha(raw))


def test_one_winner_when_two_clients_push_one_tag(replicas, swift, tmp_path, monkeypatch):
    """Two clients push different images to one tag at once, one through each replica:
    the tag names one of them, whole, and the repository's index agrees with the tags."""
    a, b = replicas
    ha, hb = Http(a.url), Http(b.url)
    store = _store(swift, "wharfie", tmp_path, monkeypatch)
    for round_ in range(4):
        tag, results, barrier = f"r{round_}", {}, threading.Barrier(2)
        threads = [threading.Thread(target=_push_racing, args=(x, y, tag, barrier, results))
                   for x, y in ((ha, hb), (hb, ha))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [st for st, _ in results.values()] == [201, 201]
        pushed = {d for _, d in results.values()}
        for http in (ha, hb):
            winner = _complete(http, "race/tag", tag)
            assert winner in pushed
            assert http("GET", "/v2/race/tag/tags/list").json()["tags"].count(tag) == 1
        index = store.repo_index("race/tag")
        assert index.tags[tag] == winner
        assert pushed <= index.manifests  # neither push's index update was lost


def test_faults_during_pushes_and_pulls_lose_no_tagged_blob(replicas, swift, tmp_path,
                                                            monkeypatch):
    """One of three object servers dies during pushes and pulls (pulls keep working), comes
    back and gets a repair pass; then GC runs again and again during pushes. Every tagged
    manifest's blobs are there afterwards, and the orphans GC found were deleted."""
    a, b = replicas
    hosts = [Http(a.url), Http(b.url)]
    started = time.monotonic()  # the whole test stays within ~2 minutes
    tagged = {(f"fault/r{i % 3}", f"t{i}"): _push_image(hosts[i % 2:] + hosts[:i % 2],
                                                          f"fault/r{i % 3}", f"t{i}")
              for i in range(6)}
    orphans = [hosts[0].push_blob("fault/junk", os.urandom(2000)) for _ in range(3)]
    _saio(swift, "kill", "object-2")
    try:
        for (repo, tag), digest in tagged.items():
            for http in hosts:
                assert _complete(http, repo, tag) == digest
        for i in range(6, 10):
            key = (f"fault/r{i % 3}", f"t{i}")
            tagged[key] = _push_image(hosts[i % 2:] + hosts[:i % 2], *key)
    finally:
        _saio(swift, "revive", "object-2")
    _saio(swift, "repair")

    monkeypatch.setattr(gc, "TOUCH_AFTER", 2.0)  # the pushes below never re-use a blob
    store = _store(swift, "wharfie", tmp_path, monkeypatch)
    stop, reports, errors = threading.Event(), [], []

    def collector() -> None:
        try:
            while not stop.is_set():
                reports.append(gc.collect(store, delete_untagged=True, grace=15))
                time.sleep(1)
        except BaseException as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=collector)
    thread.start()
    gc_started = time.monotonic()
    try:
        i = 10
        while (time.monotonic() - gc_started < 60
               and orphans[0] not in {d for r in reports for d, _ in r.blobs}):
            key = (f"fault/r{i % 3}", f"t{i}")
            tagged[key] = _push_image(hosts[i % 2:] + hosts[:i % 2], *key)
            i += 1
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert set(orphans) <= {d for r in reports for d, _ in r.blobs}, (
        gc_started - started, time.monotonic() - gc_started, len(reports), time.time(),
        gc.first_found(store).get(orphans[0]),
        store.driver.stat(repositories.blob_key(orphans[0])),
        store.link_age("fault/junk", orphans[0]), reports[-1].kept_blobs)
    for (repo, tag), digest in tagged.items():
        for http in hosts:
            assert _complete(http, repo, tag) == digest


def test_a_hundred_pushes_and_pulls_leave_no_orphans(start_registry, swift, tmp_path,
                                                     monkeypatch):
    """50 pushes (chunked uploads whose PATCHes alternate between two replicas) and 50
    pulls: the bucket then holds exactly the bytes the tags reference, no upload
    leftovers, and Swift's hidden segment container only what multipart objects use."""
    args = ["--s3-bucket", "hundred", "--s3-endpoint", swift.endpoint]
    hosts = [Http(start_registry(*args, env=ENV).url), Http(start_registry(*args, env=ENV).url)]
    tags = {}
    for i in range(50):
        size = 17 * MB if i % 10 == 0 else 30_000  # some layers end as multipart objects
        tags[f"t{i}"] = _push_image(hosts[i % 2:] + hosts[:i % 2], f"many/r{i % 5}", f"t{i}",
                                    size=size)
        repo = f"many/r{i % 5}"
        assert _complete(hosts[(i + 1) % 2], repo, f"t{i}") == tags[f"t{i}"]
    store = _store(swift, "hundred", tmp_path, monkeypatch)
    referenced: dict[str, int] = {}
    for repo in store.every_repository():
        for digest in store.repo_index(repo).tags.values():
            raw = store.manifest_bytes(digest)
            referenced[digest] = len(raw)
            doc = json.loads(raw)
            for desc in [doc["config"], *doc["layers"]]:
                referenced[desc["digest"]] = desc["size"]
    s3 = swift.s3()
    _saio(swift, "repair")  # Swift's listings lag its writes and deletes: let them catch up
    objects = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket="hundred")
               for o in page.get("Contents", []) if exists(s3, "hundred", o["Key"])]
    blobs = {o["Key"]: o["Size"] for o in objects if o["Key"].startswith("blobs/")}
    assert sum(blobs.values()) == sum(referenced.values())
    assert sorted(blobs) == sorted(repositories.blob_key(d) for d in referenced)
    assert not [o["Key"] for o in objects if o["Key"].startswith(("uploads/", "gc-parked/"))]
    assert not s3.list_multipart_uploads(Bucket="hundred").get("Uploads")
    multipart = sum(o["Size"] for o in objects if "-" in o["ETag"])
    assert multipart >= 5 * 17 * MB
    assert settled_bytes(swift, "hundred+segments", multipart) == multipart


def test_s3_region_flag_reaches_the_driver(swift, tmp_path):
    """``--s3-region`` is the store's region: a wrong one stops the server at start with
    one clear line, the right one serves."""
    def serve(region: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "wharfie", "--root", str(tmp_path / "root"), "registry",
             "serve", "--addr", "127.0.0.1:0", "--data", str(tmp_path / region),
             "--s3-bucket", "wharfie", "--s3-endpoint", swift.endpoint, "--s3-region", region,
             "--s3-addressing-style", "path"],
            stderr=subprocess.PIPE, text=True, env={**os.environ, **ENV})

    wrong = serve("eu-west-1")
    _, err = wrong.communicate(timeout=60)
    assert wrong.returncode != 0
    assert err.startswith("wharfie: error: cannot use bucket wharfie") and "wrong region" in err
    assert "Traceback" not in err
    right = serve("us-east-1")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            right.communicate(timeout=5)  # still serving
    finally:
        right.terminate()
        right.wait(10)


def test_a_driver_takes_the_credentials_of_its_environment(swift, tmp_path, monkeypatch):
    """boto3's default session keeps the first credentials it resolved; a driver made later,
    with the store's credentials in the environment, must still use those."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # as in a fresh process
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone:else")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-password")
    boto3.client("s3", endpoint_url=swift.endpoint, region_name="us-east-1")
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    driver = S3Driver("creds", endpoint_url=swift.endpoint, spool=tmp_path)
    driver.write("probe", b"ok")
    assert driver.read("probe") == b"ok"
