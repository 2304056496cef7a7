"""What several bench scripts share: realistic data to compress."""

from __future__ import annotations

import os
from pathlib import Path


def corpus(limit: int = 64 << 20) -> bytes:
    """Up to ``limit`` bytes of real binaries and text from /usr, in a deterministic order,
    so the data compresses like a layer does."""
    out = bytearray()
    for d in ("/usr/bin", "/usr/share/doc", "/usr/lib/x86_64-linux-gnu"):
        for root, _, files in sorted(os.walk(d)):
            for name in sorted(files):
                p = os.path.join(root, name)
                if os.path.isfile(p) and not os.path.islink(p):
                    try:
                        out += Path(p).read_bytes()[: 4 << 20]
                    except OSError:
                        continue
                if len(out) >= limit:
                    return bytes(out[:limit])
    return bytes(out)
