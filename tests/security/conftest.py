"""Images the security tests scan: a real Debian bookworm minbase with apt and Python
packages (made by mmdebstrap from the host's apt sources, cached by its arguments), and
busybox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.benchlib import apt_sources, apt_sources_key, cached

from wharfie.images.imagestore import ImageStore
from wharfie.testing.random import add_image

# python3-pip brings python3, setuptools and wheel: dpkg packages whose dist-info and
# egg-info directories Python catalogers read; python3-yaml adds a compiled extension.
DEBIAN_PY_ARGS = ["--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                  "--include=python3-pip,python3-yaml", "bookworm"]


@pytest.fixture(scope="session")
def debian_py_rootfs_tar() -> Path:
    """Debian bookworm minbase plus python3-pip and python3-yaml (~150 MB, made once per
    machine from the host's apt sources)."""
    return cached("debian-py-rootfs.tar", ["mmdebstrap", *DEBIAN_PY_ARGS, *apt_sources_key()],
                  lambda p: subprocess.run(["mmdebstrap", *DEBIAN_PY_ARGS, str(p),
                                            apt_sources()], check=True))


# Advisories with real CVE facts: glibc's CVE-2023-4911 (Debian 12 fixed it in 2.36-9+deb12u3),
# zlib's CVE-2022-37434 (upstream fixed 1.2.13; Debian 11 backported the fix as
# 1:1.2.11.dfsg-2+deb11u2) and requests' CVE-2023-32681 (GHSA-j8r2-6x86-q33q).
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


@pytest.fixture
def wharfie_registry(tmp_path):
    """``wharfie registry serve`` on loopback, anonymous, for one test: ``127.0.0.1:PORT``."""
    from tests.conftest import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wharfie", "--root", str(tmp_path / "registry-root"),
         "registry", "serve", "--addr", f"127.0.0.1:{port}", "--data",
         str(tmp_path / "registry-data")], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
