"""Layer compression: MB/s and ratio per codec and level, on a real root filesystem.

Run: .venv/bin/python bench/bench_compress.py [TREE]

TREE defaults to a Debian minbase rootfs cached in /var/cache/wharfie-tests (made with
mmdebstrap on first use), else Python's stdlib directory. The tree is turned into its
layer tar once (in memory), then compressed through ``layers.compression.Compressor``
with isal gzip levels 0-3 (one thread), zstd levels 1-9 (one worker per core, as the
Compressor runs it) and stdlib zlib level 6 (what ``gzip`` and Docker default to). Figures are compared with the last run
(bench/.last-compress.json).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import sysconfig
import time
import zlib
from pathlib import Path

from wharfie.layers.compression import DEFAULT_GZIP_LEVEL, Compressor
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import write_layer

CACHE = Path(os.environ.get("WHARFIE_TEST_CACHE", "/var/cache/wharfie-tests"))
MINBASE = CACHE / "bench-minbase-rootfs"
LAST = Path(__file__).with_name(".last-compress.json")
CHUNK = 1 << 20


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def write(self, data) -> int:
        self.n += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def pick_tree(argv: list[str]) -> Path:
    if len(argv) > 1:
        return Path(argv[1])
    if not MINBASE.is_dir() and os.geteuid() == 0:
        tmp = MINBASE.with_name(MINBASE.name + ".tmp")
        res = subprocess.run(["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet",
                              "bookworm", str(tmp)], capture_output=True)
        if res.returncode == 0:
            os.replace(tmp, MINBASE)
    if MINBASE.is_dir():
        return MINBASE
    return Path(sysconfig.get_paths()["stdlib"])


def layer_tar(tree: Path) -> bytes:
    buf = io.BytesIO()
    write_layer(diff_trees(None, tree), buf, compression="none")
    return buf.getvalue()


def run_codec(data: bytes, compression: str, level: int) -> tuple[float, int]:
    """Seconds and compressed bytes for one pass."""
    sink = Counter()
    view = memoryview(data)
    start = time.perf_counter()
    if compression == "zlib":
        c = zlib.compressobj(level, zlib.DEFLATED, 31)
        for i in range(0, len(view), CHUNK):
            sink.write(c.compress(view[i:i + CHUNK]))
        sink.write(c.flush())
    else:
        comp = Compressor(sink, compression, level)  # type: ignore[arg-type]
        for i in range(0, len(view), CHUNK):
            comp.write(view[i:i + CHUNK])
        comp.finish()
    return time.perf_counter() - start, sink.n


def main(argv: list[str]) -> None:
    tree = pick_tree(argv)
    data = layer_tar(tree)
    mb = len(data) / 1e6
    print(f"tree: {tree} -> layer tar of {mb:.1f} MB")
    cases = [("gzip", lv) for lv in (0, 1, 2, 3)] + [("zstd", lv) for lv in (1, 3, 6, 9)] \
        + [("zlib", 6)]
    last = json.loads(LAST.read_text()) if LAST.exists() else {}
    results = {}
    print(f"{'codec':<16}{'MB/s':>9}{'ratio':>8}{'vs last':>10}")
    for compression, level in cases:
        runs = 1 if compression == "zlib" else 3  # best of 3: the host is shared
        secs, size = min(run_codec(data, compression, level) for _ in range(runs))
        name = {"gzip": f"isal gzip {level}", "zstd": f"zstd {level} -T0",
                "zlib": f"zlib {level}"}[compression]
        mbps = mb / secs
        prev = last.get(name, {}).get("mbps")
        vs = f"{mbps / prev:.2f}x" if prev else "-"
        print(f"{name:<16}{mbps:>9.0f}{len(data) / size:>8.2f}{vs:>10}")
        results[name] = {"mbps": round(mbps, 1), "ratio": round(len(data) / size, 3)}
    print(f"default gzip level: {DEFAULT_GZIP_LEVEL}")
    LAST.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv)
