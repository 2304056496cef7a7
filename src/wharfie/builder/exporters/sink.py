"""Where a file output goes: a path by ``fs.output.open_output``'s rule, or ``-``, stdout."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import BinaryIO

from wharfie.errors import WharfieError
from wharfie.fs.output import open_output


@contextlib.contextmanager
def sink(dest: str) -> Iterator[BinaryIO]:
    """``dest`` opened for writing; ``-`` is stdout (never a terminal)."""
    if dest == "-":
        if sys.stdout.isatty():
            raise WharfieError("refusing to write a tar to a terminal: use dest=FILE")
        yield sys.stdout.buffer
        return
    with open_output(dest) as f:
        yield f
