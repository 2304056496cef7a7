"""Hand-built tar headers: ustar, with a PAX header only where ustar cannot say it.

``tarfile`` writes correct headers too, but builds a TarInfo per entry and is half
as fast on trees of small files; here a header is one ``bytes`` join. Output is a
pure function of the arguments (no uname/gname, integer mtime), so layers are
reproducible.
"""

from __future__ import annotations

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)

REG, LINK, SYMLINK, CHAR, BLOCKDEV, DIR, FIFO, PAX = b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"x"

_MAX8 = 0o7777777          # largest number an 8-byte octal field holds
_MAX12 = 0o77777777777     # largest number a 12-byte octal field holds
_PAX_NAME = b"././@PaxHeader"


def padding(size: int) -> bytes:
    """Zero bytes that round ``size`` up to a whole block."""
    return b"\0" * (-size % BLOCK)


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: bytes, value: bytes) -> bytes:
    """One ``"<len> key=value\\n"`` record; the length counts its own digits."""
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _ustar(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, typeflag: bytes,
           linkname: bytes, devmajor: int, devminor: int) -> bytes:
    parts = [
        name.ljust(100, b"\0"), _octal(mode, 8), _octal(uid, 8), _octal(gid, 8),
        _octal(size, 12), _octal(mtime, 12), b" " * 8, typeflag, linkname.ljust(100, b"\0"),
        b"ustar\x0000", b"\0" * 64, _octal(devmajor, 8), _octal(devminor, 8), b"\0" * 167,
    ]
    buf = bytearray(b"".join(parts))
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def header(name: bytes, typeflag: bytes, *, mode: int = 0, uid: int = 0, gid: int = 0,
           size: int = 0, mtime: int = 0, linkname: bytes = b"", devmajor: int = 0,
           devminor: int = 0, xattrs: dict[str, bytes] | None = None) -> bytes:
    """The header block(s) of one entry; a PAX header precedes it only when needed."""
    pax: list[bytes] = []
    binary_names = not (_is_utf8(name) and _is_utf8(linkname))

    def fits_text(value: bytes) -> bool:
        return len(value) <= 100 and value.isascii()

    if not fits_text(name):
        pax.append(_pax_record(b"path", name))
        name = name[-100:].decode("ascii", "replace").encode("ascii", "replace")
    if not fits_text(linkname):
        pax.append(_pax_record(b"linkpath", linkname))
        linkname = b""
    if not 0 <= size <= _MAX12:
        pax.append(_pax_record(b"size", b"%d" % size))
        size = 0
    if not 0 <= mtime <= _MAX12:
        pax.append(_pax_record(b"mtime", b"%d" % mtime))
        mtime = 0
    if not 0 <= uid <= _MAX8:
        pax.append(_pax_record(b"uid", b"%d" % uid))
        uid = 0
    if not 0 <= gid <= _MAX8:
        pax.append(_pax_record(b"gid", b"%d" % gid))
        gid = 0
    if devmajor > _MAX8 or devminor > _MAX8:
        raise ValueError(f"device number {devmajor}:{devminor} does not fit a tar header")
    for key in sorted(xattrs or ()):
        pax.append(_pax_record(b"SCHILY.xattr." + key.encode(), xattrs[key]))  # type: ignore[index]
    main = _ustar(name, mode, uid, gid, size, mtime, typeflag, linkname, devmajor, devminor)
    if not pax:
        return main
    if binary_names:  # file names that are not UTF-8: say so, as POSIX asks
        pax.insert(0, _pax_record(b"hdrcharset", b"BINARY"))
    records = b"".join(pax)
    return (_ustar(_PAX_NAME, 0, 0, 0, len(records), 0, PAX, b"", 0, 0)
            + records + padding(len(records)) + main)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
