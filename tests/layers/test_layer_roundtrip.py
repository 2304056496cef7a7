"""Property: random tree -> random change -> diff -> layer -> apply on the parent = the change."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers.treeutil import tree_state
from wharfie.layers.apply import apply_layer
from wharfie.layers.compression import decompress_stream
from wharfie.layers.diff import diff_overlay, diff_trees
from wharfie.layers.writer import write_layer

NAMES = ["a", "b", "c", "dd", "long-" + "x" * 120, "ünï"]
UIDS = [0, 1000, 65534, 3_000_000]
FILE_MODES = [0o644, 0o600, 0o755, 0o4755, 0o2711]
DIR_MODES = [0o755, 0o700, 0o1777]
MTIMES = [0, 1_000_000_000, 1_600_000_000]
CAP = bytes.fromhex("0100000200100000000000000000000000000000")  # cap_net_bind_service+ep

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for owners and devices")


def _cp(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-a", "--", f"{src}/.", str(dst)], check=True)


def _meta(path: str, mode: int, uid: int, mtime: int | None, *, symlink: bool = False) -> None:
    os.chown(path, uid, uid, follow_symlinks=False)
    if not symlink:
        os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime), follow_symlinks=False)


file_meta = st.tuples(st.sampled_from(FILE_MODES), st.sampled_from(UIDS), st.sampled_from(MTIMES))
contents = st.binary(max_size=64) | st.just(b"z" * 70_000)


@st.composite
def trees(draw, depth: int = 0) -> dict:
    """A directory: name -> ("file", data, meta) | ("link", target) | ("fifo",) | ("dir", tree)."""
    out = {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4)):
        kind = draw(st.sampled_from(["file", "file", "link", "fifo", "dev", "dir"] if depth < 2
                                    else ["file", "link"]))
        if kind == "file":
            out[name] = ("file", draw(contents), draw(file_meta), draw(st.booleans()))
        elif kind == "link":
            out[name] = ("link", draw(st.sampled_from(["a", "../b", "/etc/passwd"])))
        elif kind in ("fifo", "dev"):
            out[name] = (kind,)
        else:
            out[name] = ("dir", draw(trees(depth + 1)), draw(st.sampled_from(DIR_MODES)))
    return out


def build(root: Path, tree: dict) -> None:
    for name, node in tree.items():
        p = str(root / name)
        if node[0] == "file":
            Path(p).write_bytes(node[1])
            mode, uid, mtime = node[2]
            if node[3]:
                os.setxattr(p, "user.note", b"\xff" + name.encode())
                os.setxattr(p, "security.capability", CAP)
            _meta(p, mode, uid, mtime)
        elif node[0] == "link":
            os.symlink(node[1], p)
            os.utime(p, (MTIMES[1],) * 2, follow_symlinks=False)
        elif node[0] == "fifo":
            os.mkfifo(p)
            os.utime(p, (MTIMES[1],) * 2)
        elif node[0] == "dev":
            os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))
            os.utime(p, (MTIMES[1],) * 2)
        else:
            os.mkdir(p)
            build(Path(p), node[1])
            os.setxattr(p, "user.dirnote", name.encode())
            _meta(p, node[2], 0, MTIMES[2])


def all_paths(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


OPS = ["delete", "write", "replace", "chmod", "chown", "xattr", "rmxattr", "new_file", "new_dir",
       "type_swap", "recreate_dir", "hardlink", "same_size_same_mtime", "touch"]


def _fits(op: str, p: Path) -> bool:
    """Whether ``op`` can act on ``p``: drawing only fitting targets wastes no steps."""
    is_dir = p.is_dir() and not p.is_symlink()
    is_file = p.is_file() and not p.is_symlink()
    if op in ("write", "hardlink", "same_size_same_mtime"):
        return is_file
    if op in ("new_file", "new_dir", "recreate_dir"):
        return is_dir
    if op == "rmxattr":
        return is_dir and "user.dirnote" in os.listxattr(p)
    if op == "xattr":
        return is_file or is_dir
    if op == "replace":
        return not is_dir
    if op == "chmod":
        return not p.is_symlink()
    return True


def mutate(root: Path, data, steps: int) -> None:
    """Apply random changes to ``root``, as a RUN step would."""
    for _ in range(steps):
        op = data.draw(st.sampled_from(OPS))
        paths = [p for p in all_paths(root) if _fits(op, root / p)]
        if op in ("new_file", "new_dir"):
            paths.append(".")
        if not paths:
            continue
        target = root / data.draw(st.sampled_from(paths))
        is_dir = target.is_dir() and not target.is_symlink()
        is_file = target.is_file() and not target.is_symlink()
        if op == "delete":
            shutil.rmtree(target) if is_dir else target.unlink()
        elif op == "write" and is_file:
            with open(target, "r+b") as f:  # in place: every hardlink sees it
                f.write(data.draw(st.binary(min_size=1, max_size=20)))
        elif op == "replace" and not is_dir:
            target.unlink()
            target.write_bytes(data.draw(contents))
        elif op == "chmod" and not target.is_symlink():
            os.chmod(target, data.draw(st.sampled_from(FILE_MODES + DIR_MODES)))
        elif op == "chown":
            u = data.draw(st.sampled_from(UIDS))
            os.chown(target, u, u, follow_symlinks=False)
        elif op == "xattr" and (is_file or is_dir):
            os.setxattr(target, "user.changed", data.draw(st.binary(max_size=8)))
        elif op == "rmxattr" and is_dir and "user.dirnote" in os.listxattr(target):
            os.removexattr(target, "user.dirnote")
        elif op in ("new_file", "new_dir", "hardlink"):
            parent = target if is_dir else target.parent
            new = parent / data.draw(st.sampled_from(["n1", "n2", "ünew"]))
            if new.exists() or new.is_symlink():
                continue
            if op == "new_dir":
                new.mkdir()
            elif op == "hardlink" and is_file:
                os.link(target, new)
            else:
                new.write_bytes(data.draw(contents))
        elif op == "type_swap":
            shutil.rmtree(target) if is_dir else target.unlink()
            target.mkdir() if not is_dir else target.write_bytes(b"now a file")
        elif op == "recreate_dir" and is_dir:
            shutil.rmtree(target)
            target.mkdir()
            (target / "fresh").write_bytes(b"fresh")
        elif op == "same_size_same_mtime" and is_file:
            st0 = target.stat()
            body = target.read_bytes()
            if body:
                target.write_bytes(bytes([body[0] ^ 1]) + body[1:])
                os.utime(target, ns=(st0.st_atime_ns, st0.st_mtime_ns))
        elif op == "touch":
            os.utime(target, (1_234_567_890, 1_234_567_890), follow_symlinks=False)


def layer_bytes(lower: Path | None, upper: Path, compression: str = "gzip") -> tuple[bytes, object]:
    buf = io.BytesIO()
    result = write_layer(diff_trees(lower, upper), buf, compression=compression)
    return buf.getvalue(), result


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=trees(), data=st.data(), steps=st.integers(1, 6),
       compression=st.sampled_from(["gzip", "zstd", "none"]))
def test_diff_then_apply_on_parent_gives_the_change(tree, data, steps, compression):
    with tempfile.TemporaryDirectory() as t:
        lower, upper, target = Path(t, "lower"), Path(t, "upper"), Path(t, "target")
        for d in (lower, upper, target):
            d.mkdir()
        build(lower, tree)
        _cp(lower, upper)
        _cp(lower, target)
        mutate(upper, data, steps)
        expected = tree_state(upper)
        blob, result = layer_bytes(lower, upper, compression)
        diff_id = apply_layer(decompress_stream(io.BytesIO(blob), compression), target)
        assert diff_id == result.diff_id
        got = tree_state(target)
        assert got == expected, {k: (expected.get(k), got.get(k))
                                 for k in set(got) | set(expected) if got.get(k) != expected.get(k)}
        # and the layer of a tree applied to nothing gives the tree itself
        fresh = Path(t, "fresh")
        fresh.mkdir()
        blob2, result2 = layer_bytes(None, upper, compression)
        apply_layer(decompress_stream(io.BytesIO(blob2), compression), fresh)
        assert tree_state(fresh, dir_mtimes=False) == tree_state(upper, dir_mtimes=False)


class Recorder:
    """Records what ``mutate`` draws, so the same change can be replayed on another tree."""

    def __init__(self, data) -> None:
        self.data, self.log = data, []

    def draw(self, strategy):
        value = self.data.draw(strategy)
        self.log.append(value)
        return value


class Replay:
    def __init__(self, log: list) -> None:
        self.log = list(log)

    def draw(self, strategy):
        return self.log.pop(0)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=trees(), data=st.data(), steps=st.integers(1, 6))
def test_overlay_upperdir_diff_equals_tree_diff(tree, data, steps):
    """The same change made through overlayfs and on a copy gives the same layer, byte for byte."""
    with tempfile.TemporaryDirectory() as t:
        d = {n: Path(t, n) for n in ("lower", "upper", "work", "merged", "copy")}
        for p in d.values():
            p.mkdir()
        build(d["lower"], tree)
        _cp(d["lower"], d["copy"])
        opts = (f"lowerdir={d['lower']},upperdir={d['upper']},workdir={d['work']},"
                "redirect_dir=off,metacopy=off,index=off")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(d["merged"])],
                       check=True)
        try:
            rec = Recorder(data)
            mutate(d["merged"], rec, steps)
            mutate(d["copy"], Replay(rec.log), steps)
        finally:
            subprocess.run(["umount", str(d["merged"])], check=True)
        epoch = 1_700_000_000  # after every generated mtime: "now" clamps to it in both
        via_overlay, via_copy = io.BytesIO(), io.BytesIO()
        a = write_layer(diff_overlay(d["upper"], d["lower"]), via_overlay, compression="none",
                        epoch=epoch)
        b = write_layer(diff_trees(d["lower"], d["copy"]), via_copy, compression="none",
                        epoch=epoch)
        assert via_overlay.getvalue() == via_copy.getvalue()
        assert a == b
