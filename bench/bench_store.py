"""Store figures: blob ingest throughput, and ``wharfie images`` wall time with 1,000 images.

Run: .venv/bin/python bench/bench_store.py [--size-mib 1024] [--images 1000]

Ingest streams SIZE MiB from memory through ContentStore.ingest (hash + write +
fsync + verify + rename); goal >= 1 GB/s. The listing runs the real CLI in a
subprocess on a store of N tagged images (stdout a pipe: the non-TTY path);
goal < 0.3 s. Each figure is printed with its ratio to the previous run, kept
in bench/.last-store.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wharfie.content.blobstore import ContentStore
from wharfie.images.imagestore import ImageStore
from wharfie.oci.digest import Digest
from wharfie.testing.random import add_image

LAST = Path(__file__).resolve().parent / ".last-store.json"


class Repeat(io.RawIOBase):
    """``total`` bytes made of one random chunk over and over: a source that costs nothing."""

    def __init__(self, chunk: bytes, total: int) -> None:
        self.chunk, self.left = memoryview(chunk), total
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left, len(self.chunk) - self.pos)
        buf[:n] = self.chunk[self.pos:self.pos + n]
        self.pos = (self.pos + n) % len(self.chunk)
        self.left -= n
        return n


def bench_ingest(tmp: Path, size: int) -> dict:
    chunk = os.urandom(64 << 20)
    h = hashlib.sha256()
    src = Repeat(chunk, size)
    buf = bytearray(1 << 20)
    while n := src.readinto(buf):
        h.update(memoryview(buf)[:n])
    expected = Digest.from_hasher(h)
    t = time.perf_counter()
    h2 = hashlib.sha256()
    for _ in range(size // len(chunk)):
        h2.update(chunk)
    hash_only = size / (time.perf_counter() - t)
    results = []
    for i in range(3):
        store = ContentStore(tmp / f"ingest{i}").ensure()
        t = time.perf_counter()
        digest, n = store.ingest(Repeat(chunk, size), expected, size)
        results.append(size / (time.perf_counter() - t))
        assert digest == expected and n == size
        shutil.rmtree(store.root)
    return {"ingest_MBps": max(results) / 1e6, "hash_only_MBps": hash_only / 1e6}


def populate(root: Path, count: int) -> float:
    """``count`` small tagged images, sharing one base layer, like a real store's names."""
    store = ImageStore(root)
    t = time.perf_counter()
    for i in range(count):
        add_image(store, f"team/app{i % 50}:v{i}",
                  contents=[b"base layer" * 1000, f"layer {i}".encode() * 100],
                  created=f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", labels={"n": str(i)})
    return time.perf_counter() - t


def bench_images(tmp: Path, count: int) -> dict:
    root = tmp / "images"
    setup = populate(root, count)
    env = {**os.environ, "WHARFIE_ROOT": str(root)}

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def run(args: list[str]) -> tuple[float, float]:
        """Wall and CPU seconds of one run (CPU time does not depend on the machine's load)."""
        c, t = children_cpu(), time.perf_counter()
        res = subprocess.run(args, env=env, stdout=subprocess.PIPE, check=True)
        took = time.perf_counter() - t
        assert args[-1] != "images" or res.stdout.count(b"\n") == count + 1
        return took, children_cpu() - c

    cli = [sys.executable, "-m", "wharfie", "images"]
    run(cli)  # warm the page cache and bytecode
    runs = [run(cli) for _ in range(7)]
    python = [run([sys.executable, "-c", "pass"])[0] for _ in range(5)]
    return {"images_s": statistics.median(w for w, _ in runs),
            "images_best_s": min(w for w, _ in runs),
            "images_cpu_s": statistics.median(c for _, c in runs),
            "python_startup_s": min(python), "populate_s_per_image": setup / count}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=None, help="scratch directory (default: /var/tmp)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wharfie-bench-", dir=args.dir or "/var/tmp"))
    try:
        figures = bench_ingest(tmp, args.size_mib << 20)
        figures.update(bench_images(tmp, args.images))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    last = json.loads(LAST.read_text()) if LAST.exists() else {}
    goals = {"ingest_MBps": ">= 1000", "images_s": "< 0.3"}
    print(f"{'figure':24} {'value':>10} {'previous':>10} {'ratio':>7}  goal")
    for key, value in figures.items():
        prev = last.get(key)
        ratio = f"{value / prev:.2f}x" if prev else "-"
        shown = f"{prev:10.3f}" if prev is not None else f"{'-':>10}"
        print(f"{key:24} {value:10.3f} {shown} {ratio:>7}  {goals.get(key, '')}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    LAST.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
