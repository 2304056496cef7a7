"""rpm packages from the sqlite database (``var/lib/rpm/rpmdb.sqlite``, rpm >= 4.16): each
row of ``Packages`` is an rpm header blob, parsed here (no librpm).

A header is ``il`` and ``dl`` (big-endian int32), ``il`` index entries of 16 bytes
(tag, type, offset, count) and a ``dl``-byte data store the offsets point into.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct

from wharfie.errors import InvalidInput
from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package

RPMDB_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"

NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118

_INT_FORMATS = {2: "B", 3: "H", 4: "I", 5: "Q"}  # INT8, INT16, INT32, INT64
_STRING, _STRING_ARRAY, _I18NSTRING = 6, 8, 9


def parse_header(blob: bytes) -> dict[int, object]:
    """The tags of one header: strings as ``str``, arrays as lists, integers as lists of
    ints; binary and unknown types are skipped. A truncated header is refused."""
    if blob.startswith(HEADER_MAGIC):
        blob = blob[len(HEADER_MAGIC):]
    if len(blob) < 8:
        raise InvalidInput("rpm header too short")
    il, dl = struct.unpack(">II", blob[:8])
    store_at = 8 + 16 * il
    if store_at + dl > len(blob):
        raise InvalidInput("rpm header truncated")
    store = blob[store_at:store_at + dl]
    tags: dict[int, object] = {}
    for n in range(il):
        tag, type_, offset, count = struct.unpack_from(">iIiI", blob, 8 + 16 * n)
        if offset < 0 or offset > dl:
            continue  # region trailers and the like
        if type_ in _INT_FORMATS:
            fmt = f">{count}{_INT_FORMATS[type_]}"
            tags[tag] = list(struct.unpack_from(fmt, store, offset))
        elif type_ in (_STRING, _STRING_ARRAY, _I18NSTRING):
            strings = store[offset:].split(b"\0", count)[:count]
            texts = [s.decode("utf-8", "replace") for s in strings]
            tags[tag] = texts[0] if type_ == _STRING else texts
    return tags


def _files(tags: dict[int, object]) -> tuple[str, ...]:
    dirs, names, index = tags.get(DIRNAMES) or [], tags.get(BASENAMES) or [], \
        tags.get(DIRINDEXES) or []
    return tuple(sorted((dirs[i] + name).lstrip("/")
                        for name, i in zip(names, index, strict=False) if i < len(dirs)))


def _first(value: object) -> str:
    return value[0] if isinstance(value, list) and value else value if isinstance(value, str) \
        else ""


def package(tags: dict[int, object], location: str, ctx: Context) -> Package | None:
    """One Package from a parsed header; version ``[epoch:]version-release`` as syft has it."""
    name, version, release = (_first(tags.get(t)) for t in (NAME, VERSION, RELEASE))
    if not name or not version or name == "gpg-pubkey":
        return None
    epoch = tags.get(EPOCH)
    epoch_text = str(epoch[0]) if isinstance(epoch, list) and epoch else ""
    full = f"{version}-{release}" if release else version
    arch, source = _first(tags.get(ARCH)), _first(tags.get(SOURCERPM))
    license_ = _first(tags.get(LICENSE))
    distro = ctx.distro
    return Package(
        name=name, version=f"{epoch_text}:{full}" if epoch_text else full, type="rpm",
        location=location, files=_files(tags), licenses=(license_,) if license_ else (),
        arch=arch, source=source,
        purl=purl.purl("rpm", name, full, namespace=distro.id if distro else "",
                       qualifiers={"arch": arch, "epoch": epoch_text, "upstream": source,
                                   "distro": distro.purl_qualifier if distro else ""}))


def parse_rpmdb(path: str, data: bytes, ctx: Context) -> list[Package]:
    """Every package of an rpmdb.sqlite image (opened in memory, never written to disk)."""
    conn = sqlite3.connect(":memory:")
    with contextlib.closing(conn):
        try:
            conn.deserialize(data)
            rows = conn.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
        except sqlite3.DatabaseError as err:
            raise InvalidInput(f"{path}: not an rpm sqlite database: {err}") from None
    found = []
    for (blob,) in rows:
        pkg = package(parse_header(bytes(blob)), path, ctx)
        if pkg is not None:
            found.append(pkg)
    return found


RPM = Cataloger("rpm", lambda path: path in RPMDB_PATHS, parse_rpmdb)
