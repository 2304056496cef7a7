"""Archive figures: ``import``, ``save`` and ``load`` throughput of an image with one big layer.

Run: .venv/bin/python bench/bench_archive.py [--size-mib 200] [--repeat 3]

The root filesystem tar holds one file of random bytes (incompressible: the gzip
of import does real work, and the layer stays ~SIZE MiB). ``import`` is timed
through the library (hash + gzip + hash + store); ``save`` writes the archive to
a file (what ``wharfie save -o`` does, fsync included); ``load`` runs the real CLI
on it into a fresh store (stream the tar, hash, write, fsync, verify, record).
MB/s is over the archive's bytes. The best of ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.transports.archive import write_archive
from wharfie.transports.importer import import_rootfs


def make_rootfs(path: Path, size: int) -> None:
    """A tar with one ``size``-byte file of random data, written in 1 MiB chunks."""
    rng = random.Random(0)

    class Source:
        left = size

        def read(self, n: int) -> bytes:
            n = min(n, self.left, 1 << 20)
            self.left -= n
            return rng.randbytes(n)

    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("data.bin")
        info.size = size
        tf.addfile(info, Source())  # type: ignore[arg-type]


def once(tmp: Path, rootfs: Path) -> tuple[float, float, float, int]:
    """One import, save and load; returns their seconds and the archive's size."""
    shutil.rmtree(tmp / "src", ignore_errors=True)
    shutil.rmtree(tmp / "dst", ignore_errors=True)
    store = ImageStore(tmp / "src")
    ref = parse_reference("bench:big")
    start = time.perf_counter()
    with open(rootfs, "rb") as f:
        store.tag(ref, store.put_image(import_rootfs(f, store.content)))
    t_import = time.perf_counter() - start

    image = store.resolve("bench:big")
    archive = tmp / "big.tar"
    start = time.perf_counter()
    with open(archive, "wb") as f:
        write_archive(f, [(image, [ref])])
        f.flush()
        os.fsync(f.fileno())
    t_save = time.perf_counter() - start

    env = {**os.environ, "WHARFIE_ROOT": str(tmp / "dst")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wharfie", "load", "-q", "-i", str(archive)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    t_load = time.perf_counter() - start
    assert ImageStore(tmp / "dst").resolve("bench:big").id == image.id
    return t_import, t_save, t_load, archive.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wharfie-bench-archive-", dir="/var/tmp"))
    try:
        rootfs = tmp / "rootfs.tar"
        make_rootfs(rootfs, args.size_mib << 20)
        runs = [once(tmp, rootfs) for _ in range(args.repeat)]
        rootfs_mb, archive_mb = rootfs.stat().st_size / 1e6, runs[0][3] / 1e6
        print(f"rootfs {rootfs_mb:.0f} MB, archive {archive_mb:.0f} MB, best of {args.repeat}")
        for name, i, mb, note in (("import", 0, rootfs_mb, "hash + gzip + hash + store"),
                                  ("save", 1, archive_mb, "to a file, fsync'd"),
                                  ("load", 2, archive_mb, "the CLI, start-up included")):
            best = min(r[i] for r in runs)
            print(f"{name:7} {mb / best:7.0f} MB/s  ({best:.2f} s, {note})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
