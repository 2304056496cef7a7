"""Squash: one merged layer (or base + one) whose root filesystem equals the original's."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from wharfie.builder.squash import squash
from wharfie.errors import InvalidInput
from wharfie.images.imagestore import ImageStore
from wharfie.layers.apply import apply_layer
from wharfie.layers.compression import open_layer
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import write_layer
from wharfie.testing.random import add_image

EPOCH = 1_700_000_000


def write(root: Path, files: dict[str, str | None]) -> None:
    """Apply {path: content} to a tree; None deletes (a directory with all under it)."""
    for rel, content in files.items():
        p = root / rel
        if content is None:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
            os.utime(p, (EPOCH, EPOCH))


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = p.read_text() if p.is_file() else "<dir>"
    return out


STEPS = [
    {"etc/passwd": "root\n", "base": "b", "old/a": "1", "old/deep/b": "2", "keep/x": "x"},
    {"new": "n", "base": None, "old/a": None},
    {"old": None, "keep/x": "x2", "old/fresh": "f"},
]


@pytest.fixture
def built(tmp_path, root) -> tuple[ImageStore, object, Path]:
    """An image of three layers made from STEPS, and the final tree it should give."""
    store = ImageStore(root)
    cur, prev = tmp_path / "cur", tmp_path / "prev"
    cur.mkdir()
    layers = []
    for i, step in enumerate(STEPS):
        if i:
            shutil.rmtree(prev, ignore_errors=True)
            shutil.copytree(cur, prev, symlinks=True)
        write(cur, step)
        tar = io.BytesIO()
        write_layer(diff_trees(prev if i else None, cur), tar, compression="none", epoch=EPOCH)
        layers.append(tar.getvalue())
    digest = add_image(store, "app:1", contents=layers, compression="gzip", history=[
        {"created_by": f"step {i}"} for i in range(3)] + [
        {"created_by": "ENV x=y", "empty_layer": True}])
    return store, store.get(str(digest)), cur


def unpack(image, dest: Path) -> None:
    dest.mkdir()
    for layer in image.layers():
        with open_layer(layer) as f:
            apply_layer(f, dest)


def test_squash_all_gives_the_same_root_filesystem(built, tmp_path):
    store, image, final = built
    new = squash(store, image, epoch=EPOCH)
    layers = new.layers()
    assert len(layers) == 1 and new.config.diff_ids == [layers[0].diff_id]
    with open_layer(layers[0]) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        names = [m.name for m in tar]
    assert not any(".wh." in n for n in names)  # from scratch: nothing to white out
    assert "base" not in names and "old/a" not in names
    unpack(new, tmp_path / "out")
    assert tree(tmp_path / "out") == tree(final)
    assert new.config.config == image.config.config
    assert image.layers()[0].digest != layers[0].digest  # the original is untouched
    assert len(store.get(str(image.digest)).layers()) == 3


def test_history_kept_with_empty_layers(built):
    store, image, _ = built
    new = squash(store, image, epoch=EPOCH)
    hist = new.config.history
    assert [h.get("created_by") for h in hist[:4]] == ["step 0", "step 1", "step 2", "ENV x=y"]
    assert all(h.get("empty_layer") for h in hist[:4])
    assert not hist[4].get("empty_layer") and hist[4]["comment"].startswith("merge scratch to ")
    assert hist[4]["created"] == "2023-11-14T22:13:20Z"
    assert sum(not h.get("empty_layer") for h in hist) == len(new.config.diff_ids)


def test_keep_base_merges_the_rest_with_whiteouts(built, tmp_path):
    store, image, final = built
    new = squash(store, image, keep_base=1, epoch=EPOCH)
    layers = new.layers()
    assert len(layers) == 2 and layers[0].digest == image.layers()[0].digest
    with open_layer(layers[1]) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        names = {m.name for m in tar}
    assert ".wh.base" in names and "new" in names and "etc/passwd" not in names
    # /old was removed and re-made: what the base had under it is whited out
    assert {"old/.wh.a", "old/.wh.deep", "old/fresh"} <= names
    unpack(new, tmp_path / "out")
    assert tree(tmp_path / "out") == tree(final)
    hist = new.config.history
    assert [bool(h.get("empty_layer")) for h in hist] == [False, True, True, True, False]


def test_reproducible_and_noop_cases(built):
    store, image, _ = built
    assert squash(store, image, epoch=EPOCH).digest == squash(store, image, epoch=EPOCH).digest
    assert squash(store, image, keep_base=2).digest == image.digest  # one layer left: as is
    with pytest.raises(InvalidInput):
        squash(store, image, keep_base=4)


def test_cli_squash_retags_or_tags(built, wharfie):
    store, image, _ = built
    new_id = wharfie("image", "squash", "-t", "app:flat", "app:1").stdout.decode().strip()
    assert str(store.resolve("app:flat").id) == new_id
    assert store.resolve("app:1").digest == image.digest
    wharfie("image", "squash", "--keep-base", "1", "app:1")
    assert len(store.resolve("app:1").layers()) == 2
    res = wharfie("image", "squash", "nosuch:1", check=False)
    assert res.returncode != 0 and res.stderr.startswith(b"wharfie: error: No such image")


def test_overlay_and_copy_snapshotters_squash_alike(built, monkeypatch):
    store, image, _ = built
    digests = set()
    for driver in ("overlay", "copy"):
        monkeypatch.setenv("WHARFIE_SNAPSHOTTER", driver)
        digests.add(squash(store, image, keep_base=1, epoch=EPOCH).digest)
    assert len(digests) == 1
    assert (store.root / "snapshots" / "copy").is_dir()
    assert (store.root / "snapshots" / "overlay").is_dir()
