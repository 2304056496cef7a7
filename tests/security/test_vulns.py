"""Vulnerability matching on images holding packages at versions with real CVE facts:
glibc's CVE-2023-4911 (Debian 12 fixed it in 2.36-9+deb12u3), zlib's CVE-2022-37434
(upstream fixed 1.2.13; Debian 11 backported the fix as 1:1.2.11.dfsg-2+deb11u2) and
requests' CVE-2023-32681 (GHSA-j8r2-6x86-q33q: PyPI versions from 2.3.0 before 2.31.0)."""

from __future__ import annotations

import json

import pytest

from wharfie.images.imagestore import ImageStore
from wharfie.security.vulns.versions import compare_dpkg, compare_pep440, compare_semver
from wharfie.testing.random import add_image

TRACKER = {
    "glibc": {"CVE-2023-4911": {"description": "Looney Tunables: GLIBC_TUNABLES overflow",
                                "releases": {"bookworm": {"status": "resolved", "urgency": "high",
                                                          "fixed_version": "2.36-9+deb12u3"}}}},
    "zlib": {"CVE-2022-37434": {"description": "inflateGetHeader heap overflow",
                                "releases": {"bullseye": {"status": "resolved",
                                                          "urgency": "medium",
                                                          "fixed_version": "1:1.2.11.dfsg-2+deb11u2"},
                                             "bookworm": {"status": "resolved",
                                                          "urgency": "medium",
                                                          "fixed_version": "0"}}}},
}
OSV_REQUESTS = {
    "id": "GHSA-j8r2-6x86-q33q", "modified": "2023-05-26T00:00:00Z",
    "aliases": ["CVE-2023-32681"], "summary": "Proxy-Authorization header leak",
    "database_specific": {"severity": "MODERATE"},
    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}]}],
}


def rootfs(distro: str, debs: dict[str, tuple[str, str]], requests: str) -> list[dict]:
    """Two layers: an OS with dpkg packages {name: (source, version)}, then a pip install."""
    status = "\n".join(f"Package: {n}\nStatus: install ok installed\nVersion: {v}\n"
                       f"Architecture: amd64\nSource: {s}\n" for n, (s, v) in debs.items())
    meta = f"usr/local/lib/python3.11/dist-packages/requests-{requests}.dist-info/METADATA"
    return [{"etc/os-release": f"ID=debian\nVERSION_ID={distro}\n".encode(),
             "var/lib/dpkg/status": status.encode()},
            {meta: f"Name: requests\nVersion: {requests}\n".encode()}]


STEPS = [{"created_by": "ADD rootfs.tar /"}, {"created_by": "RUN pip install requests"}]


@pytest.fixture
def store_with_db(root, wharfie, tmp_path):
    (tmp_path / "tracker.json").write_text(json.dumps(TRACKER))
    (tmp_path / "osv.jsonl").write_text(json.dumps(OSV_REQUESTS) + "\n")
    wharfie("db", "import", str(tmp_path / "tracker.json"))
    wharfie("db", "import", str(tmp_path / "osv.jsonl"))
    images = ImageStore(root)
    add_image(images, "app:vulnerable", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0"))
    add_image(images, "app:fixed", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u3"), "zlib1g": ("zlib", "1:1.2.13.dfsg-1")},
        "2.31.0"))
    add_image(images, "app:backport", history=STEPS, files=rootfs(
        "11", {"zlib1g": ("zlib", "1:1.2.11.dfsg-2+deb11u2")}, "2.31.0"))
    add_image(images, "app:old11", history=STEPS, files=rootfs(
        "11", {"zlib1g": ("zlib", "1:1.2.11.dfsg-2+deb11u1")}, "2.2.0"))
    images.close()
    return wharfie


def findings(wharfie, ref: str, *args: str) -> set[tuple]:
    res = wharfie("scan", "--format", "json", ref, *args)
    return {(f["vuln"], f["package"], f["installed"], f["fixed"], f["severity"], f["layer"],
             f["step"]) for f in json.loads(res.stdout)}


def test_real_cves_matched_and_none_on_fixed_or_backported(store_with_db):
    wharfie = store_with_db
    assert findings(wharfie, "app:vulnerable") == {
        ("CVE-2023-4911", "libc6", "2.36-9+deb12u1", "2.36-9+deb12u3", "HIGH", 0,
         "ADD rootfs.tar /"),
        ("GHSA-j8r2-6x86-q33q", "requests", "2.30.0", "2.31.0", "MEDIUM", 1,
         "RUN pip install requests")}
    assert findings(wharfie, "app:fixed") == set()
    assert findings(wharfie, "app:backport") == set()  # below upstream's 1.2.13, yet fixed
    assert {f[0] for f in findings(wharfie, "app:old11")} == {"CVE-2022-37434"}  # 2.2.0 < 2.3.0
    status = wharfie("db", "status").stdout.decode()
    assert "debian-tracker" in status and "osv" in status


def test_base_or_dockerfile(store_with_db, root):
    """A stored image whose layers are the bottom of the scanned one is its base."""
    images = ImageStore(root)
    add_image(images, "debian:base", history=STEPS[:1], files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0")[:1])
    images.close()
    res = json.loads(store_with_db("scan", "--format", "json", "app:vulnerable").stdout)
    assert {(f["package"], f["origin"]) for f in res} == {("libc6", "base"),
                                                          ("requests", "dockerfile")}


def test_exit_code_and_severity_filter(store_with_db):
    wharfie = store_with_db
    assert wharfie("scan", "--exit-code", "3", "app:vulnerable", check=False).returncode == 3
    assert wharfie("scan", "--exit-code", "3", "app:fixed").returncode == 0
    assert {f[0] for f in findings(wharfie, "app:vulnerable", "--severity", "HIGH")} == \
        {"CVE-2023-4911"}


def test_version_orders():
    assert compare_dpkg("1.0~rc1", "1.0") < 0 < compare_dpkg("1:0.9", "2.0")
    assert compare_dpkg("2.36-9", "2.36-9+deb12u3") < 0
    assert compare_pep440("2.31.0.dev1", "2.31.0rc1") < 0 < compare_pep440("2.31.0.post1",
                                                                          "2.31.0")
    assert compare_pep440("1.0", "1.0.0") == 0
    assert compare_semver("1.0.0-alpha.1", "1.0.0-alpha.beta") < 0 < compare_semver("1.10.0",
                                                                                  "1.9.0")
