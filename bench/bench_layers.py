"""Layer-write throughput against GNU tar piped into gzip and zstd, on the same data.

Run: .venv/bin/python bench/bench_layers.py

Two trees, generated once into /var/cache/wharfie-tests: 20,000 small files (1-8 KB of
text-like and binary content in 200 directories) and one 1 GiB file (made of real ELF
binaries and text from /usr, so it compresses like a layer does). For each tree: wharfie's
layer writer (diff walk + tar + compress + both sha256) with isal gzip and zstd at their
defaults, and ``tar -c | gzip`` (level 6) and ``tar -c | zstd -T0`` (level 3, all cores).
Goals: >= 3x tar+gzip on the big file, >= tar+gzip on the small files. Ratios against
the last run are kept in bench/.last-layers.json. Then applying each tree's layer (gzip
and zstd) against ``tar -x`` with the same decompressor, the latency between pull and run;
and, for both snapshotters, unpacking a Debian minbase rootfs, preparing a container on it
and committing a one-file change (overlay diffs the upperdir, copy compares trees).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import corpus

from wharfie.layers.apply import apply_layer
from wharfie.layers.compression import decompress_stream
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import write_layer
from wharfie.snapshots import for_root

CACHE = Path(os.environ.get("WHARFIE_TEST_CACHE", "/var/cache/wharfie-tests"))
LAST = Path(__file__).with_name(".last-layers.json")
MINBASE = CACHE / "bench-minbase-rootfs"  # made by bench_compress.py
SMALL_FILES = 20_000
BIG = 1 << 30


class Null:
    def write(self, data) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def make_small(path: Path, data: bytes) -> None:
    rng = random.Random(20_000)
    for i in range(SMALL_FILES):
        d = path / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        off, size = rng.randrange(len(data) - 8192), rng.randrange(1024, 8192)
        (d / f"f{i:05d}").write_bytes(data[off:off + size])


def make_big(path: Path, data: bytes) -> None:
    path.mkdir(parents=True)
    with open(path / "big.bin", "wb") as f:
        written = 0
        while written < BIG:
            chunk = data[: BIG - written]
            f.write(chunk)
            written += len(chunk)


def ensure(name: str, make, data_fn) -> Path:
    path = CACHE / name
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        make(tmp, data_fn())
        os.replace(tmp, path)
    return path


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def wharfie(path: Path, compression: str) -> float:
    start = time.perf_counter()
    write_layer(diff_trees(None, path), Null(), compression=compression)
    return time.perf_counter() - start


def gnu(path: Path, compressor: str) -> float:
    start = time.perf_counter()
    subprocess.run(f"tar -C {path} -cf - . | {compressor} > /dev/null", shell=True, check=True)
    return time.perf_counter() - start


def extraction(path: Path) -> dict[str, float]:
    """Seconds to apply the tree's layer (pull -> run latency) against GNU tar -x."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as t:
        for compression, tool in (("gzip", "gzip -d"), ("zstd", "zstd -d")):
            blob = Path(t, f"layer.{compression}")
            with open(blob, "wb") as f:
                write_layer(diff_trees(None, path), f, compression=compression)
            for who in ("wharfie", "tar -x"):
                dest = Path(t, "x")
                dest.mkdir()
                start = time.perf_counter()
                if who == "wharfie":
                    with open(blob, "rb") as f:
                        apply_layer(decompress_stream(f, compression), dest)
                else:
                    subprocess.run(["tar", "-I", tool, "-xf", str(blob), "-C", str(dest)],
                                   check=True)
                out[f"apply {compression}: {who}"] = time.perf_counter() - start
                shutil.rmtree(dest)
    return out


def main() -> None:
    cached_corpus: list[bytes] = []

    def data() -> bytes:
        if not cached_corpus:
            cached_corpus.append(corpus())
        return cached_corpus[0]

    trees = {"20k small files": ensure("bench-small-files-v1", make_small, data),
             "one 1 GiB file": ensure("bench-big-file-v1", make_big, data)}
    last = json.loads(LAST.read_text()) if LAST.exists() else {}
    results: dict[str, float] = {}
    for label, path in trees.items():
        mb = tree_bytes(path) / 1e6
        subprocess.run(f"tar -C {path} -cf - . | cat > /dev/null", shell=True, check=True)
        print(f"\n{label}: {mb:.0f} MB")
        runs = {
            "wharfie gzip (isal 1)": lambda p=path: wharfie(p, "gzip"),
            "wharfie zstd 3": lambda p=path: wharfie(p, "zstd"),
            "tar | gzip": lambda p=path: gnu(p, "gzip -c"),
            "tar | zstd -T0": lambda p=path: gnu(p, "zstd -T0 -q -c"),
        }
        speeds = {}
        for name, fn in runs.items():
            secs = fn()
            speeds[name] = mb / secs
            key = f"{label}/{name}"
            prev = last.get(key)
            vs = f"{speeds[name] / prev:.2f}x vs last" if prev else ""
            print(f"  {name:<24}{speeds[name]:>8.0f} MB/s  {secs:6.2f} s  {vs}")
            results[key] = round(speeds[name], 1)
        print(f"  wharfie gzip / tar|gzip: {speeds['wharfie gzip (isal 1)'] / speeds['tar | gzip']:.1f}x"
              f"   wharfie zstd / tar|zstd -T0: "
              f"{speeds['wharfie zstd 3'] / speeds['tar | zstd -T0']:.1f}x")
        for name, secs in extraction(path).items():
            speed = mb / secs
            key = f"{label}/{name}"
            prev = last.get(key)
            vs = f"{speed / prev:.2f}x vs last" if prev else ""
            print(f"  {name:<24}{speed:>8.0f} MB/s  {secs:6.2f} s  {vs}")
            results[key] = round(speed, 1)
    rootfs = MINBASE if MINBASE.is_dir() else trees["20k small files"]
    print(f"\nsnapshots of {rootfs.name} (seconds; vs last is a speed ratio)")
    for driver in ("overlay", "copy"):
        for step, secs in snapshot_steps(rootfs, driver).items():
            key = f"snapshot {driver}/{step}"
            prev = last.get(key)
            vs = f"{prev / secs:.2f}x vs last" if prev else ""
            print(f"  {driver:<8} {step:<28}{secs:7.2f} s  {vs}")
            results[key] = round(secs, 3)
    LAST.write_text(json.dumps(results, indent=1))


def snapshot_steps(tree: Path, driver: str) -> dict[str, float]:
    """Unpack a root filesystem layer, prepare a container on it, change one file, commit."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as t:
        blob = Path(t, "layer.tar")
        with open(blob, "wb") as f:
            diff_id = write_layer(diff_trees(None, tree), f, compression="none").diff_id
        snap = for_root(Path(t, "root"), driver)
        start = time.perf_counter()
        chain = snap.add_layer(None, diff_id, lambda: open(blob, "rb"))  # noqa: SIM115 - closed by add_layer
        out["unpack layer"] = time.perf_counter() - start
        start = time.perf_counter()
        rootfs = snap.prepare("bench", chain, volatile=True)  # as a build step
        out["prepare"] = time.perf_counter() - start
        (rootfs / "bench-change").write_bytes(b"x" * 4096)
        start = time.perf_counter()
        snap.commit("bench", Null())
        out["commit one new file (gzip)"] = time.perf_counter() - start
        for c in snap.chains():
            snap.release(c)
    return out


if __name__ == "__main__":
    main()
