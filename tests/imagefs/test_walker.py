"""The shared layer walker on images the tests build: entries, whiteouts, opaque dirs,
hardlinks, ``want`` reads, the history steps and streaming from a real registry."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidInput
from wharfie.imagefs import Tree, history_steps, open_source, walk
from wharfie.images.imagestore import ImageStore
from wharfie.testing import random as made

STEPS = """\
ENV A=1
RUN mkdir -p /data/sub && echo one > /data/sub/a && echo keep > /data/keep && ln /data/keep /data/hard
LABEL x=y
RUN rm -rf /data/sub /data/hard && echo two > /data/keep2
"""


def layers_of(image, want=None):
    out = []
    for view in walk(image, want=want):
        out.append((view, list(view.entries())))
    return out


def test_whiteouts_hardlinks_and_history_steps(build, root):
    build("app:1", STEPS)
    with open_source("app:1", ImageStore(root)) as src:
        walked = layers_of(src.image)
    assert len(walked) == 3  # busybox, then the two RUNs; ENV and LABEL make no layer
    base, first, second = (v for v, _ in walked)
    assert base.created_by == "" or "RUN" not in base.created_by
    assert "mkdir -p /data/sub" in first.created_by and first.history.index == 2
    assert "rm -rf /data/sub" in second.created_by and second.history.index == 4
    assert second.uncompressed_size and second.uncompressed_size % 512 == 0

    kinds = {e.path: e for e in walked[1][1]}
    # one of the two names carries the bytes, the other links to it (tar order decides)
    body, link = sorted((kinds["data/keep"], kinds["data/hard"]), key=lambda e: e.kind != "file")
    assert body.kind == "file" and body.size == 5
    assert link.kind == "hardlink" and link.link == body.path and link.size == 0
    gone = {e.path for e in walked[2][1] if e.kind == "whiteout"}
    assert gone == {"data/sub", "data/hard"}

    tree = Tree()
    changes = [tree.apply(v.index, entries) for v, entries in walked]
    removed = {c.path: c for c in changes[2] if c.action == "removed"}
    assert removed["data/sub"].previous == 1 and removed["data/sub"].previous_size == 4
    assert tree.get("data/sub") is None and tree.get("data/keep2").added == 2
    assert tree.get("data/keep").layer == 1 and tree.get("bin/busybox").added == 0


def test_want_reads_only_wanted_files_while_streaming(build, root):
    build("app:2", STEPS)
    with open_source("app:2", ImageStore(root)) as src:
        seen = {}
        for view in walk(src.image, want=lambda p: p.startswith("data/")):
            for e in view.entries():
                if e.read is not None:
                    seen[e.path] = e.read()
                elif e.kind == "file":
                    assert not e.path.startswith("data/")
        assert seen == {"data/sub/a": b"one\n", "data/hard": b"keep\n",  # keep links to it
                        "data/keep2": b"two\n"}
        # read() after the stream moved on is refused, not silently wrong
        late = []
        for view in walk(src.image, want=lambda p: p == "data/hard"):
            late += [e for e in view.entries() if e.read]
        with pytest.raises(InvalidInput, match="after the walk moved on"):
            late[0].read()


def test_opaque_directory_hides_lower_entries_only(root):
    img = made.image(files=[
        {"etc/": None, "etc/a": b"aa", "etc/b": b"bbb", "etc/sub/": None, "etc/sub/c": b"c"},
        {"etc/": None, "etc/.wh..wh..opq": b"", "etc/new": b"n"},
    ], compression="gzip")
    walked = layers_of(img)
    marker = [e for e in walked[1][1] if e.kind == "opaque"]
    assert [m.path for m in marker] == ["etc"]
    tree = Tree()
    for view, entries in walked:
        changes = tree.apply(view.index, entries)
    assert {c.path for c in changes if c.action == "removed"} == {"etc/a", "etc/b", "etc/sub"}
    assert sorted(p for p, _ in tree.files()) == ["etc", "etc/new"]


def test_history_steps_skip_empty_layers():
    history = [{"created_by": "ADD x"}, {"created_by": "ENV a", "empty_layer": True},
               {"created_by": "RUN y"}]
    steps = history_steps(history, 3)
    assert [s.created_by if s else None for s in steps] == ["ADD x", "RUN y", None]
    assert steps[1].index == 2


def test_registry_image_is_streamed_not_stored(build, wharfie, docker_registry, root, tmp_path):
    build("app:3", STEPS)
    ref = f"{docker_registry}/walk/app:3"
    wharfie("tag", "app:3", ref)
    wharfie("push", ref)
    empty = tmp_path / "empty-root"
    with open_source(f"docker://{ref}", ImageStore(empty)) as src:
        walked = layers_of(src.image, want=lambda p: p == "data/keep2")
        keep2 = [e.path for e in walked[2][1] if e.kind == "file"]
    assert keep2 == ["data/keep2"] and walked[2][0].history.index == 4
    written = [p for p in empty.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert not [p for p in written if "blobs" in p.parts], "a layer was written to disk"
