"""SIGKILL a process that puts, tags and removes images, at many points; the store stays sound.

After every kill: every blob on disk verifies (none is partial), every tag points at a
recorded manifest whose blobs are all present, and index.json names only stored manifests.
Unreferenced blobs (a kill between ingest and record) and abandoned ingest files (a kill
mid-ingest) are allowed: check reports them, and --repair sweeps them.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharfie.images.check import check_store
from wharfie.images.imagestore import ImageStore

WORKER = r"""
import itertools, os, sys
from wharfie.testing.random import add_image, tar_layer
from wharfie.images.imagestore import ImageStore
from wharfie.images.remove import remove_image
store = ImageStore(sys.argv[1])
base = tar_layer({"base": b"b" * 300_000})
for i in itertools.count(int(sys.argv[2])):
    big = os.urandom(3 << 20)  # several pipeline buffers: kills land mid-ingest too
    add_image(store, f"app:{i}", "app:latest", contents=[base, tar_layer({f"f{i}": big})])
    if i % 3 == 0 and i > int(sys.argv[2]):
        remove_image(store, f"app:{i - 1}")
    if i % 5 == 0:
        for img in store.list():
            if img.dangling:
                remove_image(store, img.id)
"""


def assert_sound(root: Path) -> None:
    store = ImageStore(root)
    report = check_store(store)
    allowed = ("needed by no image", "abandoned ingest file")
    serious = [p for p in report.problems
               if not any(a in p.message for a in allowed)
               and p.subject != str(root / "index.json")]
    assert serious == [], serious
    for entry in json.loads((root / "index.json").read_bytes())["manifests"]:
        assert store.content.exists(entry["digest"]), entry
    store.close()


@pytest.mark.slow
def test_sigkill_at_many_points_leaves_store_sound(tmp_path):
    root = tmp_path / "root"
    rng = random.Random(1234)
    start = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(start)],
                                stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.2))
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_sound(root)
        start += 100
    store = ImageStore(root)
    assert store.list(), "the worker never completed an image"
    report = check_store(store, repair=True, grace=0)
    assert report.ok
    assert check_store(store, grace=0).problems == []
    assert store.resolve("app:latest").config.diff_ids
