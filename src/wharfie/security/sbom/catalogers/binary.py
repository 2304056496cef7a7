"""Packages compiled into executables: Go build info and cargo-auditable crate lists.

Binaries are large, so as each streams by it is reduced (``summarize``) to the few
sections that name packages; the catalog keeps only those bytes.
"""

from __future__ import annotations

import json
import posixpath

from wharfie.security.sbom.catalogers import elf, golang, rust
from wharfie.security.sbom.model import Cataloger, Context, Package

# Where executables live; package data, libraries and sources elsewhere are not read.
_SKIP = ("usr/share/", "usr/include/", "usr/lib/", "usr/libexec/", "lib/", "lib64/", "etc/",
         "var/", "proc/", "sys/", "dev/", "usr/src/", "run/", "tmp/", "boot/")


def is_executable_path(path: str) -> bool:
    """Files outside the system's data and library trees whose names have no suffix
    (executables rarely do; lock files, manifests and scripts do): /bin, /usr/bin,
    /usr/local/bin, /app, /ko-app, /opt ..."""
    return (not path.startswith(_SKIP) and "." not in posixpath.basename(path)
            and "/node_modules/" not in path and "-packages/" not in path)


def summarize(data: bytes) -> bytes:
    """The package-naming parts of an ELF binary as JSON; empty when there are none."""
    if not data.startswith(elf.ELF_MAGIC):
        return b""
    found = elf.sections(data)
    info = golang.read_buildinfo(found.get(".go.buildinfo") or b"")
    summary: dict[str, object] = {}
    if info:
        summary["go"] = [info.go_version, info.modinfo]
    if ".dep-v0" in found:
        summary["dep-v0"] = found[".dep-v0"].hex()
    return json.dumps(summary).encode() if summary else b""


def parse_summary(path: str, data: bytes, ctx: Context) -> list[Package]:
    if not data:
        return []
    summary = json.loads(data)
    found = []
    if "go" in summary:
        found += golang.packages(golang.BuildInfo(*summary["go"]), path)
    if "dep-v0" in summary:
        found += rust.auditable_packages(bytes.fromhex(summary["dep-v0"]), path)
    return found


BINARY = Cataloger("binary", is_executable_path, parse_summary, reduce=summarize)
