"""Crash safety of ``wharfie load``: SIGKILL at many points never leaves a visible partial
blob or a name pointing at something missing, and the next load succeeds."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from wharfie.content.blobstore import ContentStore
from wharfie.images.check import check_store
from wharfie.images.imagestore import ImageStore
from wharfie.oci.manifest import Manifest
from wharfie.oci.reference import parse_reference
from wharfie.transports.archive import write_archive
from wharfie.transports.importer import import_rootfs

pytestmark = pytest.mark.interop
RUNS = 15
LAYER_MB = 8


def random_rootfs(seed: int) -> bytes:
    data = random.Random(seed).randbytes(LAYER_MB << 20)  # incompressible: real work to do
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(f"data-{seed}.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Four images, ~32 MB, uncompressed archive: many blobs and many points to die at."""
    d = tmp_path_factory.mktemp("crash")
    content = ContentStore(d / "src")
    images = [(import_rootfs(io.BytesIO(random_rootfs(i)), content, config={"Env": [f"N={i}"]}),
               [parse_reference(f"crash/img{i}:v1")]) for i in range(4)]
    path = d / "images.tar"
    with open(path, "wb") as f:
        write_archive(f, images)
    return path


def check_consistent(root: Path) -> int:
    """Every visible blob verifies; every name and index.json entry leads to whole images.

    ``system check``'s own walk (every reference, manifest and blob) must find nothing
    but blobs no image needs yet (what a killed load verified but did not get to name) and,
    if the kill fell between the image store's index.json rewrite and its commit, an
    index.json ahead of the tags: its entries must still lead to whole images (checked below);
    the next write brings it back in step.
    """
    store = ImageStore(root)
    content = store.content
    for digest, _ in content.walk():
        assert content.verify(digest), f"visible blob {digest} is corrupt or partial"
    if not (root / "images.db").exists():
        return 0
    problems = [p for p in check_store(store).problems
                if not p.message.endswith("needed by no image")
                and p.message != "out of date with the tags"]
    assert problems == []
    images = store.list(all=True)
    for img in images:
        for desc in img.blobs():
            assert content.size(desc.digest) == desc.size, f"{img} needs {desc.digest}"
        img.layers()  # config parses and matches the manifest
    index = json.loads((root / "index.json").read_bytes())
    for entry in index["manifests"]:
        manifest = Manifest.parse(content.read(entry["digest"]), entry["mediaType"])
        for desc in (manifest.config, *manifest.layers):
            assert content.size(desc.digest) == desc.size
    return sum(len(img.repo_tags) for img in images)


def test_sigkill_during_load(archive, tmp_path):
    env = {**os.environ, "WHARFIE_ROOT": str(tmp_path / "timing")}
    cmd = [sys.executable, "-m", "wharfie", "load", "-i", str(archive)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    start = time.monotonic()  # a warm load (blobs there) is the shortest: kill within it
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    full = time.monotonic() - start

    root = tmp_path / "root"
    env["WHARFIE_ROOT"] = str(root)
    rng = random.Random(1234)
    killed = mid_blob = 0
    for _ in range(RUNS):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, full * 0.95))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
        ingest = root / "ingest"
        mid_blob += bool(ingest.is_dir() and any(ingest.iterdir()))
        ContentStore(root).cleanup_ingests(min_age=0)  # what a later GC does with them
        check_consistent(root)
        # the next run starts where this one died: some blobs already there, some not
    assert killed >= RUNS // 2, f"only {killed} of {RUNS} loads were interrupted"
    assert mid_blob >= 1, "no kill landed in the middle of a blob"

    res = subprocess.run(cmd, env=env, capture_output=True, check=True)
    assert res.stdout.decode().splitlines() == [
        f"Loaded image: crash/img{i}:v1" for i in range(4)]
    assert check_consistent(root) == 4
    assert check_store(ImageStore(root)).problems == []  # every blob the loads left is needed
    assert ImageStore(root).resolve("crash/img3:v1").config.config["Env"] == ["N=3"]
