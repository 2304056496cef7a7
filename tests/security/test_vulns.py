"""Vulnerability matching on images holding packages at versions with real CVE facts:
glibc's CVE-2023-4911 (Debian 12 fixed it in 2.36-9+deb12u3), zlib's CVE-2022-37434
(upstream fixed 1.2.13; Debian 11 backported the fix as 1:1.2.11.dfsg-2+deb11u2) and
requests' CVE-2023-32681 (GHSA-j8r2-6x86-q33q: PyPI versions from 2.3.0 before 2.31.0)."""

from __future__ import annotations

import json

from tests.security.conftest import STEPS, rootfs

from wharfie.images.imagestore import ImageStore
from wharfie.security.vulns.versions import (
    compare_apk,
    compare_dpkg,
    compare_pep440,
    compare_rpm,
    compare_semver,
    rpmvercmp,
)
from wharfie.testing.random import add_image


def findings(wharfie, ref: str, *args: str) -> set[tuple]:
    res = wharfie("scan", "--format", "json", ref, *args)
    return {(f["vuln"], f["package"], f["installed"], f["fixed"], f["severity"], f["layer"],
             f["step"]) for f in json.loads(res.stdout)["vulnerabilities"]}


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
    res = json.loads(store_with_db("scan", "--format", "json",
                                   "app:vulnerable").stdout)["vulnerabilities"]
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


def test_apk_and_rpm_orders():
    assert compare_apk("3.1.4-r4", "3.1.4-r5") < 0 < compare_apk("3.1.4-r10", "3.1.4-r5")
    assert compare_apk("1.36.1_rc1-r0", "1.36.1-r0") < 0 < compare_apk("1.2_p1", "1.2")
    assert compare_apk("1.2", "1.2.0") < 0 < compare_apk("1.2a", "1.2")
    assert compare_apk("1.0_alpha2", "1.0_beta1") < 0
    assert rpmvercmp("1.0~rc1", "1.0") < 0 < rpmvercmp("1.0^git1", "1.0")
    assert rpmvercmp("1.0^git1", "1.0.1") < 0 < rpmvercmp("1.0a", "1.0")
    assert rpmvercmp("10", "9") > 0 > rpmvercmp("a", "1")
    assert rpmvercmp("1.001", "1.1") == 0 == rpmvercmp("2.0", "2_0")
    assert compare_rpm("1:1.0-1", "2.0-1") > 0 > compare_rpm("1.0-1.el9", "1.0-1.el9_2")
    assert compare_rpm("1.0-10", "1.0-9") > 0


# Alpine 3.19 fixed OpenSSL's CVE-2024-0727 in openssl 3.1.4-r5 (secdb main/v3.19).
SECDB = {"distroversion": "v3.19", "reponame": "main", "packages": [
    {"pkg": {"name": "openssl", "secfixes": {"3.1.4-r5": ["CVE-2024-0727"],
                                             "0": ["CVE-2022-3358"]}}}]}


def apk_image(images, tag: str, version: str) -> None:
    installed = (f"P:libcrypto3\nV:{version}\nA:x86_64\no:openssl\n"
                 "F:lib\nR:libcrypto.so.3\n\n").encode()
    add_image(images, tag, history=STEPS[:1], files=[{
        "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n",
        "lib/apk/db/installed": installed}])


def test_alpine_secdb_matching(root, wharfie, tmp_path):
    (tmp_path / "secdb.json").write_text(json.dumps(SECDB))
    wharfie("db", "import", str(tmp_path / "secdb.json"))
    images = ImageStore(root)
    for tag, version in [("alp:old", "3.1.4-r4"), ("alp:fixed", "3.1.4-r5"),
                         ("alp:later", "3.1.4-r10")]:
        apk_image(images, tag, version)
    images.close()
    assert findings(wharfie, "alp:old") == {
        ("CVE-2024-0727", "libcrypto3", "3.1.4-r4", "3.1.4-r5", "UNKNOWN", 0, "ADD rootfs.tar /")}
    assert findings(wharfie, "alp:fixed") == set()
    assert findings(wharfie, "alp:later") == set()  # r10 > r5: numbers, not strings
