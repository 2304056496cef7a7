"""ELF section lookup, enough to find the sections build tools leave package data in
(Go's ``.go.buildinfo``, cargo-auditable's ``.dep-v0``)."""

from __future__ import annotations

import struct

ELF_MAGIC = b"\x7fELF"


def sections(data: bytes) -> dict[str, bytes]:
    """Section name -> contents of an ELF file (32/64-bit, either byte order); empty for
    anything that is not ELF or whose section table does not fit the file."""
    if len(data) < 52 or not data.startswith(ELF_MAGIC) or data[4] not in (1, 2):
        return {}
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        shoff, = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        entry = order + "IIQQQQ"  # name, type, flags, addr, offset, size
    else:
        shoff, = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
        entry = order + "IIIIII"
    if not shnum or shstrndx >= shnum or shoff + shnum * shentsize > len(data):
        return {}
    headers = [struct.unpack_from(entry, data, shoff + i * shentsize) for i in range(shnum)]
    _, _, _, _, str_off, str_size = headers[shstrndx]
    names = data[str_off:str_off + str_size]
    found = {}
    for name_at, type_, _, _, offset, size in headers:
        if type_ == 8:  # SHT_NOBITS: no bytes in the file
            continue
        name = names[name_at:names.find(b"\0", name_at)].decode("ascii", "replace")
        found[name] = data[offset:offset + size]
    return found
