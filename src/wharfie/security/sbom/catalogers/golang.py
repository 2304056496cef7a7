"""Go modules compiled into a binary, from its build info (``runtime/debug.BuildInfo``):
the ``.go.buildinfo`` section of Go >= 1.18 (pointer-free: the Go version and the module
info as varint-prefixed strings after a 32-byte header)."""

from __future__ import annotations

from dataclasses import dataclass

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Package

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_FLAG_INLINE = 0x2  # strings follow the header (Go >= 1.18)


@dataclass(frozen=True)
class BuildInfo:
    go_version: str  # go1.21.5
    modinfo: str  # "path\t...\nmod\t...\ndep\t..." lines


def _varint_string(data: bytes, at: int) -> tuple[str, int]:
    length = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return data[at:at + length].decode("utf-8", "replace"), at + length


def read_buildinfo(section: bytes) -> BuildInfo | None:
    """The build info in a ``.go.buildinfo`` section (or any bytes holding it); None for
    the pointer-based format of Go < 1.18, which needs the binary's data segments."""
    at = section.find(BUILDINFO_MAGIC)
    if at < 0 or len(section) < at + 32 or not section[at + 15] & _FLAG_INLINE:
        return None
    version, end = _varint_string(section, at + 32)
    modinfo, _ = _varint_string(section, end)
    # modinfo is wrapped in two 16-byte sentinels (cmd/go's modinfo.go)
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    return BuildInfo(version, modinfo)


def _golang_purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return purl.purl("golang", name, version, namespace=namespace)


def packages(info: BuildInfo, location: str) -> list[Package]:
    """The main module, its dependencies (a ``=>`` line replaces the one before it) and
    the standard library, typed ``go-module`` as syft does."""
    mods: list[tuple[str, str]] = []
    for line in info.modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            mods.append((fields[1], fields[2]))
        elif fields[0] == "=>" and len(fields) >= 3 and mods:
            mods[-1] = (mods[-1][0], fields[2])  # keep the required path, take the version
    found = [Package(name=p, version=v, type="go-module", location=location,
                     purl=_golang_purl(p, v)) for p, v in mods]
    if info.go_version.startswith("go"):
        version = info.go_version[2:].split(" ")[0]
        found.append(Package(name="stdlib", version=version, type="go-module",
                             location=location, purl=purl.purl("golang", "stdlib", version)))
    return found
