"""Catalogers as pure functions over file contents, and the layer-by-layer collection that
traces each package to the layer and step that added (and removed) it."""

from __future__ import annotations

from wharfie.security.sbom import generate
from wharfie.security.sbom.catalogers.apk import parse_installed
from wharfie.security.sbom.catalogers.dpkg import parse_status, parse_status_d
from wharfie.security.sbom.catalogers.npm import parse_package_json
from wharfie.security.sbom.catalogers.python import parse_metadata
from wharfie.security.sbom.distro import parse_os_release
from wharfie.security.sbom.model import Context, Distro
from wharfie.testing.random import image

DEBIAN = Distro("debian", "12")
STATUS = b"""\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation line

Package: zlib1g
Status: deinstall ok config-files
Architecture: amd64
Version: 1:1.2.13.dfsg-1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
"""


def ctx(files: dict[str, bytes], distro: Distro | None = DEBIAN) -> Context:
    return Context(distro, files.get)


def test_dpkg_status_installed_packages_files_licenses_and_purls():
    files = {"var/lib/dpkg/info/libc6:amd64.list": b"/.\n/lib\n/lib/x86_64-linux-gnu/libc.so.6\n",
             "usr/share/doc/libc6/copyright": b"Files: *\nLicense: LGPL-2.1+\n\nLicense: GPL-2\n"}
    pkgs = parse_status("var/lib/dpkg/status", STATUS, ctx(files))
    assert [(p.name, p.version) for p in pkgs] == [
        ("libc6", "2.36-9+deb12u4"), ("zlib1g", "1:1.2.13.dfsg-1+b1")]
    libc, zlib = pkgs
    assert libc.purl == \
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    assert libc.files == ("lib", "lib/x86_64-linux-gnu/libc.so.6")
    assert libc.licenses == ("LGPL-2.1+", "GPL-2")
    assert (zlib.source, zlib.source_version) == ("zlib", "1:1.2.13.dfsg-1")
    assert zlib.purl.startswith("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1%2Bb1?")


def test_dpkg_distroless_status_d_with_md5sums():
    stanza = b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
    files = {"var/lib/dpkg/status.d/tzdata.md5sums": b"abc  usr/share/zoneinfo/UTC\n"}
    [pkg] = parse_status_d("var/lib/dpkg/status.d/tzdata", stanza, ctx(files))
    assert (pkg.name, pkg.version, pkg.type) == ("tzdata", "2024a-0+deb12u1", "deb")
    assert pkg.files == ("usr/share/zoneinfo/UTC",)


def test_apk_installed_database():
    db = (b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:libc.musl-x86_64.so.1\n"
          b"\nP:busybox-binsh\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:bin\nR:sh\n\n")
    musl, binsh = parse_installed("lib/apk/db/installed", db, ctx({}, Distro("alpine", "3.19.1")))
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    assert musl.files == ("lib/libc.musl-x86_64.so.1",) and musl.licenses == ("MIT",)
    assert binsh.purl.endswith("&upstream=busybox") and binsh.files == ("bin/sh",)


def test_python_dist_info_with_record_and_egg_info():
    site = "usr/lib/python3/dist-packages"
    meta = b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\nLicense: MIT\n\nbody\n"
    files = {f"{site}/PyYAML-6.0.dist-info/RECORD": b"yaml/__init__.py,sha256=x,1\n"
                                                   b"../../../bin/pyyaml,,\n"}
    [pkg] = parse_metadata(f"{site}/PyYAML-6.0.dist-info/METADATA", meta, ctx(files))
    assert (pkg.name, pkg.version, pkg.type, pkg.purl) == \
        ("PyYAML", "6.0", "python", "pkg:pypi/pyyaml@6.0")
    assert pkg.files == ("usr/bin/pyyaml", f"{site}/yaml/__init__.py")
    egg = b"Name: wheel\nVersion: 0.38.4\nClassifier: License :: OSI Approved :: MIT License\n"
    [w] = parse_metadata(f"{site}/wheel-0.38.4.egg-info/PKG-INFO", egg, ctx({}))
    assert (w.name, w.version, w.licenses) == ("wheel", "0.38.4", ("MIT License",))


def test_npm_package_json_scoped_and_plain():
    [p] = parse_package_json("app/node_modules/@babel/core/package.json",
                             b'{"name": "@babel/core", "version": "7.24.0", "license": "MIT"}',
                             ctx({}))
    assert p.purl == "pkg:npm/%40babel/core@7.24.0" and p.licenses == ("MIT",)
    assert parse_package_json("x/node_modules/a/package.json", b"{not json", ctx({})) == []


def test_os_release():
    d = parse_os_release(b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
                         b'VERSION_ID="12"\n')
    assert d == Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
    assert parse_os_release(b"NAME=x\n") is None


def _status(*names: str) -> bytes:
    return b"\n".join(f"Package: {n}\nStatus: install ok installed\nVersion: 1.0\n"
                      f"Architecture: amd64\n".encode() for n in names)


def test_layers_steps_and_scopes():
    """A package keeps the layer that first added it even when later layers rewrite the
    database; a package removed later is only in all-layers, with the removing step; a
    whiteout of a dist-info directory removes its Python package."""
    meta = "usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA"
    steps = ["ADD rootfs.tar /", "RUN apt-get install -y curl", "RUN apt-get purge -y curl"]
    img = image(files=[
        {"etc/os-release": b"ID=debian\nVERSION_ID=12\n", "var/lib/dpkg/status": _status("base"),
         meta: b"Name: foo\nVersion: 1.0\n"},
        {"var/lib/dpkg/status": _status("base", "curl")},
        {"var/lib/dpkg/status": _status("base"),
         "usr/lib/python3/dist-packages/.wh.foo-1.0.dist-info": b""},
    ], history=[{"created_by": s} for s in steps[:1]] + [
        {"created_by": "ENV A=1", "empty_layer": True}] + [{"created_by": s} for s in steps[1:]])
    squashed = generate(img, name="t")
    assert [(f.package.name, f.added.index, f.added.created_by) for f in squashed.packages] \
        == [("base", 0, steps[0])]
    assert squashed.distro == Distro("debian", "12")
    every = generate(img, scope="all-layers")
    found = {f.package.name: f for f in every.packages}
    assert (found["curl"].added.created_by, found["curl"].removed.created_by) == \
        (steps[1], steps[2])
    assert found["foo"].removed.index == 2 and found["base"].removed is None
