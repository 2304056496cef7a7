"""``wharfie build --sbom`` attaches an SPDX SBOM as an OCI referrer of the image; ``push``
carries it to wharfie's own registry (listed by its referrers API) and ``wharfie sbom
--from-attestation`` reads it back from the store and from the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from wharfie.security.sbom.attest import SPDX_TYPE

METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"


def context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "requests-2.31.0.dist-info").mkdir(parents=True)
    (ctx / "requests-2.31.0.dist-info" / "METADATA").write_bytes(METADATA)
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nCOPY requests-2.31.0.dist-info "
        "/usr/lib/python3/dist-packages/requests-2.31.0.dist-info\n")
    return ctx


def names(spdx: dict) -> set[tuple[str, str]]:
    return {(p["name"], p["versionInfo"]) for p in spdx["packages"][1:]}


def test_build_sbom_is_a_referrer_pushed_and_read_back(wharfie, tmp_path, wharfie_registry):
    ref = f"{wharfie_registry}/sec/app:1"
    wharfie("build", "--sbom", "-t", ref, str(context(tmp_path)))
    local = json.loads(wharfie("sbom", "--from-attestation", "-f", "spdx-json", ref).stdout)
    assert local["spdxVersion"] == "SPDX-2.3" and names(local) == {("requests", "2.31.0")}

    digest = wharfie("push", ref).stdout.decode()
    image = json.loads(wharfie("inspect", ref).stdout)[0]
    manifest_digest = next(d.split("@")[1] for d in image["RepoDigests"])
    url = f"http://{wharfie_registry}/v2/sec/app/referrers/{manifest_digest}"
    with urllib.request.urlopen(url) as resp:
        listed = json.loads(resp.read())["manifests"]
    assert [m["artifactType"] for m in listed] == [SPDX_TYPE], digest

    other = subprocess.run(
        [sys.executable, "-m", "wharfie", "sbom", "--from-attestation", f"docker://{ref}"],
        capture_output=True, env={**os.environ, "WHARFIE_ROOT": str(tmp_path / "second")})
    assert other.returncode == 0, other.stderr.decode()
    assert names(json.loads(other.stdout)) == {("requests", "2.31.0")}


def test_no_attestation_is_one_clear_error(wharfie, tmp_path):
    ctx = tmp_path / "plain"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    wharfie("build", "-t", "plain:1", str(ctx))
    res = wharfie("sbom", "--from-attestation", "plain:1", check=False)
    assert res.returncode != 0 and b"Traceback" not in res.stderr
    assert b"no SBOM attached (build it with --sbom)" in res.stderr
    res = wharfie("build", "--sbom", str(ctx), check=False)
    assert b"tag is needed to attach an SBOM" in res.stderr
