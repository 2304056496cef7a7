"""Alpine packages: ``lib/apk/db/installed`` (``P:`` name, ``V:`` version, ``F:``/``R:``
directories and files)."""

from __future__ import annotations

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package

INSTALLED = "lib/apk/db/installed"


def _record(lines: list[str], location: str, ctx: Context) -> Package | None:
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    for line in lines:
        key, _, value = line.partition(":")
        if key == "F":
            directory = value
        elif key == "R":
            files.append(f"{directory}/{value}" if directory else value)
        else:
            fields.setdefault(key, value)
    if "P" not in fields:
        return None
    name, version, arch = fields["P"], fields.get("V", ""), fields.get("A", "")
    origin = fields.get("o", "")
    return Package(name=name, version=version, type="apk", location=location,
                   purl=purl.apk(name, version, arch, ctx.distro, origin),
                   files=tuple(sorted(files)), arch=arch, source=origin or name,
                   source_version=version,
                   licenses=(fields["L"],) if fields.get("L") else ())


def parse_installed(path: str, data: bytes, ctx: Context) -> list[Package]:
    out, record = [], []
    for line in data.decode("utf-8", "replace").splitlines() + [""]:
        if line.strip():
            record.append(line)
            continue
        pkg = _record(record, path, ctx) if record else None
        if pkg:
            out.append(pkg)
        record = []
    return out


APK = Cataloger("apk", lambda p: p == INSTALLED, parse_installed)
