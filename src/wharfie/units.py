"""Sizes as people write them: ``512MB``, ``2g``, ``1.5GiB``, ``1024``.

As Docker's go-units: a plain unit is decimal (``FromHumanSize``, e.g. ``--keep-storage``)
or, where Docker means memory (``RAMInBytes``, e.g. a tmpfs ``size``), binary. An explicit
IEC unit (``KiB``, ``MiB``...) is always binary.
"""

from __future__ import annotations

import re

from wharfie.errors import InvalidInput

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(i?)b?", re.IGNORECASE)


def parse_size(value: int | str, *, binary: bool = False) -> int:
    """Bytes in ``value``; ``binary``: plain units are powers of 1024."""
    if isinstance(value, int):
        return value
    m = _SIZE.fullmatch(str(value).strip())
    if not m:
        raise InvalidInput(f"invalid size {value!r}: use e.g. 512MB, 2GiB or 1024")
    base = 1024 if binary or m[3] else 1000
    return int(float(m[1]) * base ** " kmgtp".index(m[2].lower() or " "))
