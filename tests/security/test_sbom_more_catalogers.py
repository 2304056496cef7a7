"""The rpm, Go, Java, Ruby, Rust and npm-lockfile catalogers, on bytes made here (and, for
Go, a binary built by the real toolchain)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import subprocess
import zipfile
import zlib

import pytest

from wharfie.errors import InvalidInput
from wharfie.security.sbom import generate
from wharfie.security.sbom.catalogers.binary import is_executable_path, parse_summary, summarize
from wharfie.security.sbom.catalogers.golang import read_buildinfo
from wharfie.security.sbom.catalogers.java import parse_summary as parse_java
from wharfie.security.sbom.catalogers.java import reduce_archive
from wharfie.security.sbom.catalogers.npm import parse_lockfile
from wharfie.security.sbom.catalogers.rpm import parse_header, parse_rpmdb
from wharfie.security.sbom.catalogers.ruby import parse_gemspec
from wharfie.security.sbom.catalogers.rust import parse_cargo_lock
from wharfie.security.sbom.model import Context, Distro
from wharfie.testing.random import image

ROCKY = Distro("rocky", "9.3")


def ctx(files: dict[str, bytes] | None = None, distro: Distro | None = None) -> Context:
    return Context(distro, (files or {}).get)


def rpm_header(tags: dict[int, tuple[int, object]]) -> bytes:
    """An rpm header blob as rpmdb.sqlite stores it: il, dl, index entries, data store
    (int32 values 4-aligned, as rpm writes them)."""
    index, store = b"", b""
    for tag, (type_, value) in tags.items():
        if type_ == 4:
            store += b"\0" * (-len(store) % 4)
            data, count = b"".join(struct.pack(">I", v) for v in value), len(value)
        elif type_ == 6:
            data, count = value.encode() + b"\0", 1
        else:  # 8: string array
            data, count = b"".join(v.encode() + b"\0" for v in value), len(value)
        index += struct.pack(">iIiI", tag, type_, len(store), count)
        store += data
    return struct.pack(">II", len(tags), len(store)) + index + store


def rpmdb(*headers: bytes) -> bytes:
    """An rpmdb.sqlite file with rpm's own Packages table layout."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "blob BLOB NOT NULL)")
    conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
    conn.commit()
    data = conn.serialize()
    conn.close()
    return data


BASH = rpm_header({1000: (6, "bash"), 1001: (6, "5.1.8"), 1002: (6, "6.el9"),
                   1022: (6, "x86_64"), 1014: (6, "GPLv3+"),
                   1044: (6, "bash-5.1.8-6.el9.src.rpm"),
                   1116: (4, [0, 0, 1]), 1117: (8, ["bash", "sh", "bash.1.gz"]),
                   1118: (8, ["/usr/bin/", "/usr/share/man/man1/"])})
OPENSSL = rpm_header({1000: (6, "openssl-libs"), 1001: (6, "3.0.7"), 1002: (6, "24.el9"),
                      1003: (4, [1]), 1022: (6, "x86_64"), 1014: (6, "ASL 2.0")})


def test_rpm_header_blobs_in_rpmdb_sqlite():
    bash, openssl = parse_rpmdb("var/lib/rpm/rpmdb.sqlite", rpmdb(BASH, OPENSSL), ctx(distro=ROCKY))
    assert (bash.name, bash.version, bash.type, bash.arch) == \
        ("bash", "5.1.8-6.el9", "rpm", "x86_64")
    assert bash.files == ("usr/bin/bash", "usr/bin/sh", "usr/share/man/man1/bash.1.gz")
    assert bash.licenses == ("GPLv3+",) and bash.source == "bash-5.1.8-6.el9.src.rpm"
    assert bash.purl == ("pkg:rpm/rocky/bash@5.1.8-6.el9?arch=x86_64&distro=rocky-9.3"
                         "&upstream=bash-5.1.8-6.el9.src.rpm")
    assert openssl.version == "1:3.0.7-24.el9"
    assert openssl.purl == \
        "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"


def test_rpm_bad_input_is_refused_clearly():
    with pytest.raises(InvalidInput, match="truncated"):
        parse_header(BASH[:-3])
    with pytest.raises(InvalidInput, match="not an rpm sqlite database"):
        parse_rpmdb("var/lib/rpm/rpmdb.sqlite", b"not sqlite" * 100, ctx())


def test_rpm_packages_in_an_image_traced_to_their_layer():
    img = image(files=[{"etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n',
                        "var/lib/rpm/rpmdb.sqlite": rpmdb(BASH)},
                       {"var/lib/rpm/rpmdb.sqlite": rpmdb(BASH, OPENSSL)}],
                history=[{"created_by": "ADD rootfs /"},
                         {"created_by": "RUN dnf install -y openssl-libs"}])
    found = {f.package.name: f for f in generate(img).packages}
    assert found["bash"].added.index == 0
    assert found["openssl-libs"].added.created_by == "RUN dnf install -y openssl-libs"


GO_MAIN = """package main

import lib "example.com/lib"

func main() { println(lib.Answer) }
"""


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory) -> bytes:
    """A real Go binary (the host's toolchain) with one dependency replaced by a local
    directory, plus a cargo-auditable ``.dep-v0`` section added with objcopy."""
    work = tmp_path_factory.mktemp("go")
    (work / "lib").mkdir()
    (work / "lib" / "go.mod").write_text("module example.com/lib\n\ngo 1.18\n")
    (work / "lib" / "lib.go").write_text("package lib\n\nconst Answer = 42\n")
    (work / "app").mkdir()
    (work / "app" / "go.mod").write_text(
        "module example.com/app\n\ngo 1.18\n\nrequire example.com/lib v1.2.3\n\n"
        "replace example.com/lib => ../lib\n")
    (work / "app" / "main.go").write_text(GO_MAIN)
    env = {**os.environ, "GOPATH": str(work / "gopath"), "GOCACHE": str(work / "cache"),
           "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(work / "server"), "."], cwd=work / "app",
                   env=env, check=True, capture_output=True)
    deps = {"packages": [
        {"name": "app", "version": "0.1.0", "source": "local", "root": True},
        {"name": "serde", "version": "1.0.195", "source": "crates.io"},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"}]}
    (work / "dep-v0").write_bytes(zlib.compress(json.dumps(deps).encode()))
    subprocess.run(["objcopy", "--add-section", f".dep-v0={work / 'dep-v0'}",
                    str(work / "server")], check=True, capture_output=True)
    return (work / "server").read_bytes()


def test_go_buildinfo_and_cargo_auditable_from_a_real_binary(go_binary):
    summary = summarize(go_binary)
    assert len(summary) < 2000  # the catalog keeps the sections, not the binary
    found = {(p.name, p.version, p.type): p for p in parse_summary("app/server", summary, ctx())}
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True,
                                check=True).stdout.strip()
    assert set(found) == {
        ("example.com/app", "(devel)", "go-module"), ("example.com/lib", "(devel)", "go-module"),
        ("stdlib", go_version[2:], "go-module"),
        ("app", "0.1.0", "rust-crate"), ("serde", "1.0.195", "rust-crate")}
    assert found[("example.com/app", "(devel)", "go-module")].purl == \
        "pkg:golang/example.com/app@%28devel%29"
    assert found[("serde", "1.0.195", "rust-crate")].purl == "pkg:cargo/serde@1.0.195"
    assert read_buildinfo(b"\xff Go buildinf:" + b"\0" * 40) is None  # pre-1.18 layout
    assert summarize(b"#!/bin/sh\necho hi\n") == b""


def test_binaries_in_an_image_are_found_where_executables_live(go_binary):
    img = image(files=[{"usr/local/bin/server": go_binary, "usr/share/doc/server": go_binary}])
    found = {(f.package.name, f.package.location) for f in generate(img).packages}
    assert ("example.com/lib", "usr/local/bin/server") in found
    assert not any(loc.startswith("usr/share") for _, loc in found)
    assert is_executable_path("ko-app/server") and not is_executable_path("app/Cargo.lock")


def test_cargo_lock():
    lock = b"""version = 3

[[package]]
name = "serde"
version = "1.0.195"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "myapp"
version = "0.1.0"
"""
    pkgs = parse_cargo_lock("src/Cargo.lock", lock, ctx())
    assert [(p.name, p.version, p.purl) for p in pkgs] == [
        ("serde", "1.0.195", "pkg:cargo/serde@1.0.195"), ("myapp", "0.1.0", "pkg:cargo/myapp@0.1.0")]
    with pytest.raises(InvalidInput, match="not a Cargo.lock"):
        parse_cargo_lock("Cargo.lock", b"[[package\n", ctx())


def jar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_java_pom_properties_manifest_and_nested_jars():
    guava = jar({"META-INF/maven/com.google.guava/guava/pom.properties":
                 b"#Created by Maven\ngroupId=com.google.guava\nartifactId=guava\n"
                 b"version=32.1.3-jre\n"})
    plain = jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nImplementation-Title: "
                                         b"tiny-li\r\n b\r\nImplementation-Version: 2.0\r\n\r\n"})
    app = jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
               "META-INF/maven/org.example/app/pom.properties":
                   b"groupId=org.example\nartifactId=app\nversion=1.0.0\n",
               "BOOT-INF/lib/guava-32.1.3-jre.jar": guava, "BOOT-INF/lib/tiny.jar": plain})
    summary = reduce_archive(app)
    assert len(summary) < 600  # the archive is not kept, only what it declares
    pkgs = parse_java("opt/app.jar", summary, ctx())
    assert [(p.name, p.version, p.location, p.purl) for p in pkgs] == [
        ("app", "1.0.0", "opt/app.jar", "pkg:maven/org.example/app@1.0.0"),
        ("guava", "32.1.3-jre", "opt/app.jar:BOOT-INF/lib/guava-32.1.3-jre.jar",
         "pkg:maven/com.google.guava/guava@32.1.3-jre"),
        ("tiny-lib", "2.0", "opt/app.jar:BOOT-INF/lib/tiny.jar", "pkg:maven/tiny-lib/tiny-lib@2.0")]
    assert all(p.type == "java-archive" for p in pkgs)
    assert parse_java("x.jar", reduce_archive(b"not a zip"), ctx()) == []


def test_ruby_gemspec():
    spec = b"""# -*- encoding: utf-8 -*-
Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
  s.required_rubygems_version = Gem::Requirement.new(">= 1.3.2".freeze) if s.respond_to? :x
  s.licenses = ["MIT".freeze]
end
"""
    [gem] = parse_gemspec("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", spec, ctx())
    assert (gem.name, gem.version, gem.type, gem.purl, gem.licenses) == \
        ("rake", "13.0.6", "gem", "pkg:gem/rake@13.0.6", ("MIT",))


def test_npm_package_lock_v3():
    lock = {"name": "web", "lockfileVersion": 3, "packages": {
        "": {"name": "web", "version": "1.0.0"},
        "node_modules/@babel/core": {"version": "7.24.0", "license": "MIT"},
        "node_modules/@babel/core/node_modules/semver": {"version": "6.3.1"},
        "node_modules/mine": {"resolved": "packages/mine", "link": True}}}
    pkgs = parse_lockfile("srv/web/package-lock.json", json.dumps(lock).encode(), ctx())
    assert [(p.name, p.version, p.purl) for p in pkgs] == [
        ("@babel/core", "7.24.0", "pkg:npm/%40babel/core@7.24.0"),
        ("semver", "6.3.1", "pkg:npm/semver@6.3.1")]


def test_new_catalogers_run_in_an_image():
    img = image(files=[{
        "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec":
            b's.name = "rake"\ns.version = "13.0.6"\n',
        "srv/package-lock.json": json.dumps({"packages": {"node_modules/a": {"version": "1.0.0"}}}
                                            ).encode(),
        "opt/app.jar": jar({"META-INF/maven/g/a/pom.properties":
                            b"groupId=g\nartifactId=a\nversion=1\n"}),
        "srv/Cargo.lock": b'[[package]]\nname = "serde"\nversion = "1.0.0"\n'}])
    assert {(f.package.type, f.package.name) for f in generate(img).packages} == {
        ("gem", "rake"), ("npm", "a"), ("java-archive", "a"), ("rust-crate", "serde")}
