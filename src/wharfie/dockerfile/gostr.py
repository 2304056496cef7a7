"""Go's ``strconv.Quote``, so dumps match BuildKit's byte for byte."""

from __future__ import annotations

_SIMPLE = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
           "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def quote(s: str) -> str:
    """``s`` as Go's ``strconv.Quote`` prints it."""
    out = ['"']
    for ch in s:
        if ch in _SIMPLE:
            out.append(_SIMPLE[ch])
        elif ch == " " or (ch.isprintable() and ch != "\x7f"):
            out.append(ch)
        else:
            c = ord(ch)
            if c < 0x80:
                out.append(f"\\x{c:02x}")
            elif c < 0x10000:
                out.append(f"\\u{c:04x}")
            else:
                out.append(f"\\U{c:08x}")
    out.append('"')
    return "".join(out)


def quote_list(items: list[str]) -> str:
    """A string slice as Go's ``%q`` prints it: ``["a" "b"]``."""
    return "[" + " ".join(quote(i) for i in items) + "]"
