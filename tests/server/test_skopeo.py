"""skopeo, a real client, copies images into and out of the server and deletes them."""

from __future__ import annotations

import json

import pytest
from regtest import make_layout, skopeo

pytestmark = pytest.mark.interop


def test_skopeo_copy_in_out_and_delete(open_registry, tmp_path):
    src = tmp_path / "src"
    digest = make_layout(src, "v1", (300_000, 50_000))
    ref = f"docker://{open_registry.host}/interop/skopeo:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:v1", ref)
    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == digest and info["RepoTags"] == ["v1"]
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:v1")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    for blob in (src / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    skopeo("delete", "--tls-verify=false", ref)
    res = skopeo("inspect", "--tls-verify=false", ref, check=False)
    assert res.returncode != 0 and "manifest unknown" in res.stderr


def test_skopeo_docker_format_and_copy_between_repos(open_registry, tmp_path):
    src = tmp_path / "src"
    make_layout(src, "v1", (100_000,))
    a = f"docker://{open_registry.host}/interop/a:v2s2"
    b = f"docker://{open_registry.host}/interop/b:copied"
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{src}:v1", a)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", a).stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", a, b)
    assert skopeo("inspect", "--raw", "--tls-verify=false", b).stdout == raw
