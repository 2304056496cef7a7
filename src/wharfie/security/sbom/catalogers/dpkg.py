"""Debian packages: ``var/lib/dpkg/status`` and distroless images' ``status.d/*``, with
each package's files (``info/NAME[:ARCH].list``, or ``status.d/NAME.md5sums``) and its
DEP-5 ``License:`` fields (``usr/share/doc/NAME/copyright``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
_COPYRIGHT = re.compile(r"usr/share/doc/[^/]+/copyright")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """RFC 822-style stanzas (dpkg's and apt's format); continuation lines are joined."""
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t" and last:
            fields[last] += "\n" + line.strip()
        elif ":" in line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    if fields:
        yield fields


def _installed(fields: dict[str, str]) -> bool:
    """``Status: install ok installed``; distroless stanzas have no Status (all installed)."""
    status = fields.get("Status")
    return status is None or status.split()[-1:] == ["installed"]


def _source(fields: dict[str, str]) -> tuple[str, str]:
    """``Source: glibc (2.36-9)`` -> ('glibc', '2.36-9'); no version: the binary's."""
    raw = fields.get("Source", "")
    m = re.fullmatch(r"(\S+)(?:\s+\((\S+)\))?", raw)
    if not m:
        return "", ""
    return m.group(1), m.group(2) or fields.get("Version", "")


def _files_from_list(data: bytes | None) -> tuple[str, ...]:
    if not data:
        return ()
    return tuple(sorted(line.lstrip("/") for line in data.decode("utf-8", "replace").splitlines()
                        if line.strip() and line != "/."))


def _files_from_md5sums(data: bytes | None) -> tuple[str, ...]:
    if not data:
        return ()
    return tuple(sorted(line.split(None, 1)[1].lstrip("/")
                        for line in data.decode("utf-8", "replace").splitlines()
                        if len(line.split(None, 1)) == 2))


def copyright_licenses(data: bytes | None) -> tuple[str, ...]:
    """The distinct first-line values of DEP-5 ``License:`` fields, in order."""
    if not data:
        return ()
    seen: dict[str, None] = {}
    for m in re.finditer(r"^License:[ \t]*(\S[^\n]*)$", data.decode("utf-8", "replace"), re.M):
        seen.setdefault(m.group(1).strip(), None)
    return tuple(seen)


def _package(fields: dict[str, str], location: str, files: tuple[str, ...],
             ctx: Context) -> Package:
    name, version, arch = fields["Package"], fields.get("Version", ""), fields.get("Architecture", "")
    source, source_version = _source(fields)
    return Package(
        name=name, version=version, type="deb", location=location,
        purl=purl.deb(name, version, arch, ctx.distro, source),
        files=files, arch=arch, source=source or name,
        source_version=source_version or version,
        licenses=copyright_licenses(ctx.read(f"usr/share/doc/{name}/copyright")))


def parse_status(path: str, data: bytes, ctx: Context) -> list[Package]:
    """Every installed package of a dpkg status file, with its files from ``info/``."""
    out = []
    for fields in paragraphs(data.decode("utf-8", "replace")):
        if "Package" not in fields or not _installed(fields):
            continue
        name, arch = fields["Package"], fields.get("Architecture", "")
        listing = ctx.read(f"{INFO}{name}:{arch}.list") or ctx.read(f"{INFO}{name}.list")
        out.append(_package(fields, path, _files_from_list(listing), ctx))
    return out


def parse_status_d(path: str, data: bytes, ctx: Context) -> list[Package]:
    """One distroless ``status.d/NAME`` stanza; its files from ``status.d/NAME.md5sums``."""
    out = []
    for fields in paragraphs(data.decode("utf-8", "replace")):
        if "Package" in fields and _installed(fields):
            files = _files_from_md5sums(ctx.read(path + ".md5sums"))
            out.append(_package(fields, path, files, ctx))
    return out


def _is_status_d(path: str) -> bool:
    return (path.startswith(STATUS_D) and "/" not in path[len(STATUS_D):]
            and not path.endswith(".md5sums") and len(path) > len(STATUS_D))


DPKG = Cataloger(
    "dpkg", lambda p: p == STATUS, parse_status,
    auxiliary=lambda p: (p.startswith(INFO) and p.endswith(".list"))
    or bool(_COPYRIGHT.fullmatch(p)))
DPKG_DISTROLESS = Cataloger(
    "dpkg-distroless", _is_status_d, parse_status_d,
    auxiliary=lambda p: (p.startswith(STATUS_D) and p.endswith(".md5sums"))
    or bool(_COPYRIGHT.fullmatch(p)))
