"""oras (the Python SDK from PyPI) pushes an artifact with a subject; the referrers API
finds it, filtered by artifact type, and oras pulls it back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import oras.client
import oras.oci
import pytest
from regtest import OCI_MANIFEST

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("chunked", [False, True])
def test_oras_artifact_with_subject(http, open_registry, tmp_path, monkeypatch, chunked):
    repo = f"oras/app{int(chunked)}"
    subject_digest, subject_raw = http.push_image(repo, "v1")
    sbom = tmp_path / "sbom.json"
    sbom.write_bytes(json.dumps({"packages": [os.urandom(8).hex()]}).encode())
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(hostname=open_registry.host, insecure=True)
    subject = oras.oci.Subject(OCI_MANIFEST, subject_digest, len(subject_raw))
    res = client.push(f"{open_registry.host}/{repo}:sbom", files=["sbom.json"],
                      subject=subject, manifest_annotations={"kind": "sbom"},
                      do_chunked=chunked, chunk_size=64)
    assert res.status_code == 201
    artifact = res.headers["Docker-Content-Digest"]
    assert res.headers["OCI-Subject"] == subject_digest

    listed = http("GET", f"/v2/{repo}/referrers/{subject_digest}").json()["manifests"]
    assert [m["digest"] for m in listed] == [artifact]
    assert listed[0]["annotations"] == {"kind": "sbom"}
    kind = listed[0]["artifactType"]
    assert http("GET", f"/v2/{repo}/referrers/{subject_digest}?artifactType={quote(kind, safe='')}"
                ).json()["manifests"] == listed
    assert http("GET", f"/v2/{repo}/referrers/{subject_digest}?artifactType=other/x"
                ).json()["manifests"] == []

    out = tmp_path / "out"
    files = client.pull(target=f"{open_registry.host}/{repo}@{artifact}", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [sbom.read_bytes()]
