"""The size of a layer's contents, as Docker reports it for ``images``, ``inspect`` and
``history``: what its files take once applied, however the layer blob is compressed.

Docker's overlay2 driver measures an applied layer's directory (moby's ``directory.Size``):
the bytes of every entry that is not a directory (regular files, symlink targets), a hard
link counted once. A layer holding only directories (an empty ``WORKDIR``) is 0 bytes.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from wharfie.layers.compression import auto_decompress, corrupt_input_as


def content_size(stream: BinaryIO) -> int:
    """Bytes of a layer tar's non-directory entries (compressed or not); a name written
    twice counts once, with its last size, as applying the layer leaves it.
    Raises InvalidInput when the stream is not a (compressed) tar."""
    sizes: dict[str, int] = {}
    with corrupt_input_as("not a layer tar"), \
            tarfile.open(fileobj=auto_decompress(stream), mode="r|") as tf:
        for m in tf:
            name = m.name.strip("/").removeprefix("./")
            if m.isreg():
                sizes[name] = m.size
            elif m.issym():
                sizes[name] = len(m.linkname.encode())
            elif not m.isdir():
                sizes.pop(name, None)  # hard links, devices, fifos: no bytes of their own
    return sum(sizes.values())
