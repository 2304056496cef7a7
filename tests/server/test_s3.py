"""The S3 driver against moto's standalone server, and two registry processes sharing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import boto3
import pytest
from regtest import Http, errors_of, free_port, make_layout, sha, skopeo, wait_for_port

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def two_servers(start_shared_registry, moto_endpoint, tmp_path_factory):
    """Two server processes, each with its own local state, on one bucket."""
    args = ["--s3-bucket", "registry", "--s3-endpoint", moto_endpoint, "--s3-prefix", "r1"]
    a = start_shared_registry(*args, data=tmp_path_factory.mktemp("s3a"), env=S3_ENV)
    b = start_shared_registry(*args, data=tmp_path_factory.mktemp("s3b"), env=S3_ENV)
    return a, b


def test_push_through_one_pull_through_the_other(two_servers, tmp_path):
    a, b = two_servers
    src = tmp_path / "src"
    digest = make_layout(src, "v1", (400_000, 30_000))
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1",
           f"docker://{a.host}/s3/app:v1")
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{b.host}/s3/app:v1", f"oci:{out}:v1")
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    assert "s3/app" in Http(b.url)("GET", "/v2/_catalog").json()["repositories"]


def test_upload_session_spans_both_servers(two_servers):
    a, b = two_servers
    ha, hb = Http(a.url), Http(b.url)
    data = os.urandom(300_000)
    loc = ha("POST", "/v2/s3/split/blobs/uploads/").headers["Location"]
    r = ha("PATCH", loc, body=data[:100_000], headers={"Content-Range": "0-99999"})
    assert r.status == 202
    r = hb("PATCH", loc, body=data[100_000:250_000], headers={"Content-Range": "100000-249999"})
    assert r.status == 202 and r.headers["Range"] == "0-249999"
    assert ha("GET", loc).headers["Range"] == "0-249999"
    r = ha("PUT", f"{loc}?digest={sha(data)}", body=data[250_000:])
    assert r.status == 201, r.data
    got = hb("GET", f"/v2/s3/split/blobs/{sha(data)}", headers={"Range": "bytes=1000-1999"})
    assert got.status == 206 and got.data == data[1000:2000]
    assert hb("GET", f"/v2/s3/split/blobs/{sha(data)}").data == data
    bad = ha("POST", f"/v2/s3/split/blobs/uploads/?digest={sha(b'x')}", body=b"y")
    assert bad.status == 400 and errors_of(bad) == ["DIGEST_INVALID"]


def test_objects_live_in_the_bucket_deduplicated(two_servers, moto_endpoint):
    a, b = two_servers
    data = os.urandom(5000)
    Http(a.url).push_blob("s3/x", data)
    Http(b.url).push_blob("s3/y", data)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="registry", Prefix="r1/blobs/")
            ["Contents"]]
    assert keys.count(f"r1/blobs/sha256/{sha(data)[7:]}") == 1
    assert s3.get_object(Bucket="registry", Key=f"r1/blobs/sha256/{sha(data)[7:]}"
                         )["Body"].read() == data
    for repo in ("s3/x", "s3/y"):
        s3.head_object(Bucket="registry", Key=f"r1/repositories/{repo}/_layers/sha256/"
                                              f"{sha(data)[7:]}")


def test_gc_walks_the_bucket(two_servers, moto_endpoint):
    a, _ = two_servers
    Http(a.url).push_image("s3/gc", "t")
    res = subprocess.run(
        [sys.executable, "-m", "wharfie", "registry", "gc", "--dry-run", "--delete-untagged",
         "--data", str(a.data), "--s3-bucket", "registry", "--s3-endpoint", moto_endpoint,
         "--s3-prefix", "r1"], capture_output=True, text=True, env={**os.environ, **S3_ENV})
    assert res.returncode == 0, res.stderr
    last = res.stdout.splitlines()[-1]
    # Everything is within the grace period: nothing to delete, every blob seen and kept.
    assert last.startswith("would delete 0 manifests, 0 blobs")
    kept = int(last.split("kept ")[1].split()[0])
    assert kept >= 3


def test_touch_of_objects_too_big_to_copy(moto_endpoint, tmp_path, monkeypatch):
    """Past CopyObject's limit (lowered here to 1 KiB) a touch writes a marker, which stat
    reports and delete removes."""
    for k, v in S3_ENV.items():
        monkeypatch.setenv(k, v)
    from wharfie.server.storage.s3 import TOUCHED, S3Driver

    driver = S3Driver("touch-test", endpoint_url=moto_endpoint, spool=tmp_path)
    driver.copy_limit = 1024
    driver.write("blobs/big", os.urandom(4096))
    driver.write("blobs/small", b"x")
    before = driver.stat("blobs/big").mtime
    time.sleep(1.1)  # S3 times have whole seconds
    driver.touch("blobs/big")
    driver.touch("blobs/small")
    assert driver.stat("blobs/big").mtime > before
    assert driver.stat("blobs/small").mtime > before
    assert driver.read(TOUCHED + "blobs/big") == b""
    assert driver.read("blobs/small") == b"x"
    assert driver.delete("blobs/big")
    assert driver.stat("blobs/big") is None and driver.read(TOUCHED + "blobs/big") is None


def test_blob_gets_redirect_to_presigned_urls(two_servers, start_registry, moto_endpoint,
                                              tmp_path):
    a, _ = two_servers
    c = start_registry("--s3-bucket", "registry", "--s3-endpoint", moto_endpoint,
                       "--s3-prefix", "r1", "--s3-redirect", env=S3_ENV)
    src = tmp_path / "src"
    digest = make_layout(src, "v1", (200_000,))
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1", f"docker://{a.host}/s3/redir:v1")
    layer = json.loads((src / "blobs" / "sha256" / digest[7:]).read_text())["layers"][0]
    r = Http(c.url)("GET", f"/v2/s3/redir/blobs/{layer['digest']}")
    assert r.status == 307 and r.headers["Location"].startswith(moto_endpoint)
    assert "Signature" in r.headers["Location"]
    direct = Http(c.url)("GET", r.headers["Location"])
    assert sha(direct.data) == layer["digest"]
    assert Http(c.url)("GET", f"/v2/s3/nothere/blobs/{layer['digest']}").status == 404
    out = tmp_path / "out"  # a real client follows the redirects
    skopeo("copy", "--src-tls-verify=false", f"docker://{c.host}/s3/redir:v1", f"oci:{out}:v1")
    assert (out / "blobs" / "sha256" / layer["digest"][7:]).read_bytes() == \
        (src / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()
