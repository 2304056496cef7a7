"""Time to first byte of the web interface's repository list (``/ui/``) with 5,000
repositories and 50,000 tags, on a real ``wharfie registry serve`` (filesystem storage,
no authentication, so every repository is visible and checked).

Storage is populated directly: one image is pushed through the store, then each
repository's files (catalog entry, index, links, revision, tag files) are written as
plain files, the layout RegistryStore reads, without the per-object fsync of a push.

Run: .venv/bin/python bench/bench_ui.py [--repos 5000] [--tags 10] [--runs 20]

One run on this 2-core machine (shared with other work), 5,000 repositories, 50,000 tags,
a page of 50 repositories (tag count, size, last push each), no authentication:

    /ui/                             TTFB median  27.4 ms, p90 36.9 ms
    /ui/?q=r04 (search)              TTFB median  28.0 ms, p90 36.4 ms
    /ui/?last=... (last page)        TTFB median  28.3 ms, p90 35.3 ms
    /ui/api/repos (JSON)             TTFB median  34.7 ms, p90 54.1 ms
    /ui/repos/<one>/-/tags (10 tags) TTFB median   7.1 ms, p90 14.6 ms
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import free_port, wait_for_port  # noqa: E402

from wharfie.oci.digest import Digest  # noqa: E402
from wharfie.oci.manifest import parse_manifest_or_index  # noqa: E402
from wharfie.server.repositories import RegistryStore, RepoIndex  # noqa: E402
from wharfie.server.storage.filesystem import FilesystemDriver  # noqa: E402
from wharfie.testing import random  # noqa: E402


def populate(storage: Path, repos: int, tags: int) -> None:
    store = RegistryStore(FilesystemDriver(storage))
    image = random.image(4096, raw=True)
    first = "bench/r00000"
    for desc, data in image.push_order():
        if desc != image.manifest.descriptor:
            d = Digest.of(data)
            blob = storage / "blobs" / d.algorithm / d.hex
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            store.link_blob(first, d)
    raw = image.manifest.raw
    digest = store.put_manifest(first, raw, image.manifest.media_type,
                                parse_manifest_or_index(raw), "t0")
    blobs = [image.manifest.config.digest, *(d.digest for d in image.manifest.layers), digest]
    names = [f"bench/r{i:05d}" for i in range(repos)]
    for name in names[1:]:
        base = storage / "repositories" / name
        for d in blobs:
            link = base / "_layers" / d.algorithm / d.hex
            link.parent.mkdir(parents=True, exist_ok=True)
            link.write_bytes(b"")
        rev = base / "_manifests" / "revisions" / digest.algorithm / digest.hex
        rev.parent.mkdir(parents=True, exist_ok=True)
        rev.write_bytes(image.manifest.media_type.encode())
        (base / "_manifests" / "tags").mkdir(parents=True)
        for t in range(tags):
            (base / "_manifests" / "tags" / f"t{t}").write_bytes(str(digest).encode())
        index = RepoIndex({f"t{t}": str(digest) for t in range(tags)}, {str(digest)})
        (base / "_index").write_bytes(index.encode())
        (storage / "catalog" / name.replace("/", "+")).write_bytes(b"")
    (storage / "repositories.json").write_bytes(json.dumps(names).encode())


def ttfb(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url) as resp:
        resp.read(1)
        first = time.perf_counter() - start
        resp.read()
    return first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=int, default=5000)
    ap.add_argument("--tags", type=int, default=10, help="per repository")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        populate(data / "storage", args.repos, args.tags)
        print(f"populated {args.repos} repositories, {args.repos * args.tags} tags in "
              f"{time.perf_counter() - t0:.1f} s")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "wharfie", "--root", f"{tmp}/root",
                                 "registry", "serve", "-q", "--addr", f"127.0.0.1:{port}",
                                 "--data", str(data)], env=dict(os.environ))
        try:
            wait_for_port(port)
            base = f"http://127.0.0.1:{port}"
            for path in ("/ui/", "/ui/?q=r04", f"/ui/?last=bench/r{args.repos - 60:05d}",
                         "/ui/api/repos", "/ui/repos/bench/r01234/-/tags"):
                ttfb(base + path)  # warm: the server's first request imports templates
                times = sorted(ttfb(base + path) for _ in range(args.runs))
                print(f"{path:32s} TTFB median {statistics.median(times) * 1000:7.1f} ms, "
                      f"p90 {times[int(0.9 * len(times)) - 1] * 1000:7.1f} ms")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
