"""``wharfie db push`` to wharfie's own registry server and ``db pull`` into a second root:
the same scan results there, the artifact's shape, and refusal of what is not a database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.security.conftest import STEPS, rootfs

from wharfie.api import Client
from wharfie.security.vulns.transfer import ARTIFACT_TYPE, LAYER_TYPE
from wharfie.testing.random import add_image


def run(root, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "wharfie", *args], capture_output=True,
                         env={**os.environ, "WHARFIE_ROOT": str(root)})
    assert not check or res.returncode == 0, res.stderr.decode()
    return res


def vulns(root, ref: str) -> list[dict]:
    return json.loads(run(root, "scan", "--format", "json", ref).stdout)["vulnerabilities"]


def test_push_to_wharfie_registry_and_pull_into_a_second_root(store_with_db, root, tmp_path,
                                                              wharfie_registry):
    ref = f"{wharfie_registry}/security/vulndb:1"
    first = vulns(root, "app:vulnerable")
    assert {f["vuln"] for f in first} == {"CVE-2023-4911", "GHSA-j8r2-6x86-q33q"}
    run(root, "db", "push", ref)

    second = tmp_path / "second"
    with Client(second) as client:  # the same image, no database yet
        add_image(client.store, "app:vulnerable", history=STEPS, files=rootfs(
            "12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0"))
    assert b"no vulnerability database" in run(second, "scan", "app:vulnerable",
                                               check=False).stderr
    out = run(second, "db", "pull", ref).stdout.decode()
    assert out.startswith(f"pulled {ref}@sha256:")
    assert vulns(second, "app:vulnerable") == first
    assert {f["vuln"]: f["aliases"] for f in first} == {  # the aliases travel with it
        "CVE-2023-4911": [], "GHSA-j8r2-6x86-q33q": ["CVE-2023-32681"]}
    status = run(second, "db", "status").stdout.decode()
    assert "oci-pull" in status and ref in status and "debian-tracker" in status

    with Client(second) as client:
        manifest = json.loads(client.manifest(ref))
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [LAYER_TYPE]


def test_pull_refuses_an_image(root, tmp_path, wharfie_registry):
    with Client(root) as client:
        add_image(client.store, f"{wharfie_registry}/some/image:1", files=[{"etc/motd": b"hi"}])
        client.push(f"{wharfie_registry}/some/image:1")
    res = run(tmp_path / "other", "db", "pull", f"{wharfie_registry}/some/image:1", check=False)
    assert res.returncode != 0 and b"Traceback" not in res.stderr
    assert b"is not a wharfie vulnerability database" in res.stderr
    assert not (tmp_path / "other" / "vulndb" / "vulns.db").exists()
