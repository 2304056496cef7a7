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
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from regtest import Http, make_layout, skopeo

from wharfie.errors import WharfieError
from wharfie.server import repositories
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
    assert swift.container_bytes("wharfie+segments") == multipart


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
