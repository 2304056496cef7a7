"""What the bench scripts (and the tests' fixtures) share: realistic data to compress and
expensive inputs cached outside the checkout, keyed by what they are made from."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("WHARFIE_TEST_CACHE", "/var/cache/wharfie-tests"))


def cached(name: str, key_parts: list[bytes | str], make) -> Path:
    """A file under CACHE named by ``name`` and a hash of its inputs; ``make(path)`` builds it."""
    h = hashlib.sha256()
    for part in key_parts:
        h.update(part.encode() if isinstance(part, str) else part)
    path = CACHE / f"{name}-{h.hexdigest()[:16]}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        make(tmp)
        os.replace(tmp, path)
    return path


def apt_sources() -> str:
    """The host's own apt sources file, given to mmdebstrap/debootstrap as the mirror: the
    Debian bases are made from wherever this machine installs its packages."""
    for candidate in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError("no apt sources on this host (/etc/apt/sources.list[.d])")


def apt_sources_key() -> list[bytes | str]:
    """What a Debian base depends on besides its mmdebstrap arguments: the sources' content."""
    return [Path(apt_sources()).read_bytes()]


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


def wharfie(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the real CLI on ``root``; a failure ends the bench with wharfie's message."""
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    res = subprocess.run([sys.executable, "-m", "wharfie", *args], env=env, capture_output=True)
    if res.returncode != 0:
        sys.exit(f"wharfie {' '.join(args)}: {res.stderr.decode(errors='replace')}")
    return res


def best(runs: int, command) -> tuple[float, subprocess.CompletedProcess]:
    """The fastest of ``runs`` calls of ``command``, and the last call's result."""
    times, last = [], None
    for _ in range(runs):
        t = time.perf_counter()
        last = command()
        times.append(time.perf_counter() - t)
    return min(times), last
