"""A COPY from the context written straight into its layer (``plan_copy``) is the layer a
real copy into a snapshot commits, byte for byte, into new or existing directories; where
only a real copy can tell (something copied replaces what the parent has), the plan
declines; and a build's last COPY creates no snapshot, while a RUN after it still
sees the files."""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import time

import pytest

from wharfie.builder.chmod import ModeSpec
from wharfie.builder.context import HashCache, checksum_tree
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.filecopy import CopyOptions, copy_sources, plan_copy
from wharfie.images.imagestore import ImageStore
from wharfie.layers.writer import write_layer
from wharfie.snapshots import for_root

EPOCH = 1_700_000_000  # clamps the mtimes of directories made "now"; sources are older
OLD = 1_600_000_000_123_456_789


def parent_tar() -> bytes:
    """A parent layer: etc/ and usr/ directories, a file, and lib -> usr/lib."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode in [("etc", tarfile.DIRTYPE, 0o750), ("usr", tarfile.DIRTYPE, 0o755),
                                 ("usr/lib", tarfile.DIRTYPE, 0o755),
                                 ("lib", tarfile.SYMTYPE, 0o777),
                                 ("etc/passwd", tarfile.REGTYPE, 0o644)]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 1_500_000_000, 0, 42
            info.linkname = "usr/lib" if kind == tarfile.SYMTYPE else ""
            data = b"root:x:0:0::/root:/bin/sh\n" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    for d in ("src/pkg", "empty", "ignored-dir", "conf"):
        (c / d).mkdir(parents=True)
    files = {"a.txt": b"a", "b.txt": b"bb", "src/main.py": b"main", "src/pkg/mod.py": b"mod",
             "run.sh": b"#!/bin/sh\n", "ignored.log": b"x", "ignored-dir/f": b"f",
             "conf/passwd": b"not the parent's"}
    for name, data in files.items():
        (c / name).write_bytes(data)
    os.chmod(c / "run.sh", 0o4755)
    os.chmod(c / "src/pkg", 0o700)
    os.link(c / "src/main.py", c / "src/main-link.py")
    os.symlink("main.py", c / "src/alias")
    os.symlink("pkg", c / "src/pkg-dir")
    for dirpath, dirnames, filenames in os.walk(c, topdown=False):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), ns=(OLD, OLD), follow_symlinks=False)
    return c


@pytest.fixture(params=["overlay", "copy"])
def snap(request, tmp_path):
    s = for_root(tmp_path / "root", request.param)
    yield s
    for chain in s.chains():
        s.release(chain)


def layers_both_ways(snap, ctx, parent, sources, dest, **kw) -> tuple[bytes, bytes | None]:
    """(the layer a real copy into a snapshot commits, the planned layer or None)."""
    rootfs = snap.prepare("copy", parent)
    copy_sources(ctx, sources, rootfs, dest, "/", CopyOptions(**kw))
    real = io.BytesIO()
    snap.commit("copy", real, compression="none", epoch=EPOCH)
    view = snap.view(parent) if parent is not None else None
    entries = plan_copy(walk(ctx, sources, **kw), dest, "/", CopyOptions(**kw), view,
                        time.time_ns())
    if entries is None:
        return real.getvalue(), None
    planned = io.BytesIO()
    write_layer(entries, planned, compression="none", epoch=EPOCH)
    return real.getvalue(), planned.getvalue()


def walk(ctx, sources, *, ignore=None, excludes=(), **_) -> list:
    """The context's checksum walk, which the plan reads."""
    walked: list = []
    checksum_tree(ctx, sources, ignore, excludes, HashCache(None), walked=walked)
    return walked


CASES = {
    "whole context, .dockerignore": (["."], "/data", {"ignore": PatternMatcher(["ignored*"])}),
    "new directory under an existing one": (["src"], "/etc/app/", {}),
    "new directories two deep": (["src", "a.txt"], "/usr/local/app", {}),
    "file into a new directory": (["a.txt"], "/new/", {}),
    "file to a new name": (["run.sh"], "/renamed", {}),
    "wildcard": (["*.txt"], "/w/", {}),
    "empty directory": (["empty"], "/e", {}),
    "--chmod": (["."], "/c", {"chmod": ModeSpec("u+x,go-w")}),
    "--exclude": (["."], "/x", {"excludes": ["*.txt", "src/pkg"]}),
    "symlinked source directory": (["src/pkg-dir"], "/p", {}),
    "--exclude of a named source": (["a.txt", "b.txt"], "/t/", {"excludes": ["a.txt"]}),
    "wildcard matching nothing": (["*.none"], "/nothing/", {}),
    "new files in an existing directory": (["src"], "/etc/", {}),
    "file into an existing directory without a slash": (["a.txt"], "/etc", {}),
    "into the root": (["."], "/", {"ignore": PatternMatcher(["ignored*"])}),
    "a directory's contents into the root": (["src"], "/", {}),
}


@pytest.mark.parametrize("case", CASES)
def test_planned_layer_is_the_layer_a_real_copy_commits(snap, ctx, case):
    parent = snap.add_layer(None, _diff_id(parent_tar()), lambda: io.BytesIO(parent_tar()))
    sources, dest, kw = CASES[case]
    real, planned = layers_both_ways(snap, ctx, parent, sources, dest, **kw)
    assert planned is not None
    assert _names(planned) == _names(real)
    assert planned == real


def test_planned_layer_on_an_empty_root(snap, ctx):
    real, planned = layers_both_ways(snap, ctx, None, ["src"], "/data/", ignore=PatternMatcher([]))
    assert planned == real and "data/main-link.py" in _names(planned)


@pytest.mark.parametrize("sources,dest,kw", [
    (["a.txt"], "/etc/passwd", {}),  # replaces what the parent has: only the real tree
    (["conf"], "/etc", {}),  # says whether it changed
    (["a.txt"], "/lib/x", {}),  # through a symlink
    (["a.txt", "a.txt"], "/d/", {}),  # two sources on one path
    (["a.txt"], "/d", {"chown": (1, 1)}),
    (["src/main.py"], "/d", {"parents": True}),
])
def test_plan_declines_where_a_real_copy_must_decide(snap, ctx, sources, dest, kw):
    parent = snap.add_layer(None, _diff_id(parent_tar()), lambda: io.BytesIO(parent_tar()))
    view = snap.view(parent)
    assert plan_copy(walk(ctx, sources, **kw), dest, "/", CopyOptions(**kw), view,
                     time.time_ns()) is None


def test_plan_declines_a_directory_whose_default_acl_new_entries_inherit(ctx, tmp_path):
    parent = tmp_path / "parent"
    (parent / "etc").mkdir(parents=True)
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, 0xFFFFFFFF)
                                          for tag, perm in ((1, 7), (4, 5), (0x20, 5)))
    os.setxattr(parent / "etc", "system.posix_acl_default", acl)
    (parent / "etc" / "probe").mkdir()  # a real copy's directory would carry it
    assert os.listxattr(parent / "etc" / "probe") == ["system.posix_acl_default"]
    assert plan_copy(walk(ctx, ["src"]), "/etc/app", "/", CopyOptions(), parent,
                     time.time_ns()) is None
    assert plan_copy(walk(ctx, ["src"]), "/opt/app", "/", CopyOptions(), parent,
                     time.time_ns()) is not None


def test_plan_declines_a_special_file(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    os.mkfifo(ctx / "pipe")
    assert plan_copy(walk(ctx, ["."]), "/d", "/", CopyOptions(), None, time.time_ns()) is None


def test_plan_declines_a_dockerignore_with_exceptions(ctx):
    ignore = PatternMatcher(["src", "!src/pkg"])
    assert plan_copy(walk(ctx, ["."], ignore=ignore), "/d", "/", CopyOptions(ignore=ignore),
                     None, time.time_ns()) is None


def test_last_copy_makes_no_snapshot_and_a_later_run_still_sees_its_files(store, root,
                                                                        tmp_path):
    from wharfie.builder.options import BuildOptions
    from wharfie.builder.pipeline import build

    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "f.txt").write_text("hello\n")
    (ctx / ".dockerignore").write_text("Dockerfile\n")  # the copies differ in it alone
    (ctx / "Dockerfile").write_text("FROM busybox:local\nCOPY . /data\n")
    first = build(store, BuildOptions(str(ctx), tags=["direct:1"]))
    layers = _layers(store, first.manifest_digest)
    snap = for_root(root)
    assert len(snap.chains()) == len(layers) - 1  # the base is extracted, the COPY is not

    # the same layer, written through a snapshot (--chown=0:0 takes the real-copy path)
    (ctx / "Dockerfile").write_text("FROM busybox:local\nCOPY --chown=0:0 . /data\n")
    via_snapshot = build(store, BuildOptions(str(ctx), tags=["real:1"], epoch=EPOCH))
    (ctx / "Dockerfile").write_text("FROM busybox:local\nCOPY . /data\n"
                                    "RUN cat /data/sub/f.txt > /seen\n")
    direct = build(store, BuildOptions(str(ctx), tags=["direct:2"], epoch=EPOCH, no_cache=True,
                                       network="none"))
    assert _layers(store, direct.manifest_digest)[:-1] == _layers(store,
                                                                   via_snapshot.manifest_digest)
    last = store.get(direct.manifest_digest).layers()[-1]
    with tarfile.open(fileobj=last.open(), mode="r:*") as tar:
        assert tar.extractfile("seen").read() == b"hello\n"


def _layers(store: ImageStore, digest) -> list[str]:
    manifest = json.loads(store.content.read(digest))
    return [layer["digest"] for layer in manifest["layers"]]


def _diff_id(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _names(layer: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return tar.getnames()
