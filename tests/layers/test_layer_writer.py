"""Layer writing: determinism, PAX only where needed, SOURCE_DATE_EPOCH, GNU tar reads it,
overlayfs upperdirs translated to OCI whiteouts, one-pass store writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import zstandard

from layers.treeutil import tree_state
from wharfie.content.blobstore import ContentStore
from wharfie.layers.apply import apply_layer
from wharfie.layers.diff import Change, diff_overlay, diff_trees
from wharfie.layers.writer import LayerResult, write_layer, write_layer_to_store

CAP = bytes.fromhex("0100000200100000000000000000000000000000")


def make_tree(root: Path, order: list[str]) -> Path:
    """The same tree whatever ``order`` the files are created in (inodes differ)."""
    root.mkdir()
    (root / "etc").mkdir()
    (root / "bin").mkdir()
    bodies = {"etc/passwd": b"root:x:0:0::/root:/bin/sh\n", "bin/tool": b"\x7fELF" * 1000,
              "etc/motd": b"hi\n"}
    for rel in order:
        (root / rel).write_bytes(bodies[rel])
    os.chmod(root / "bin/tool", 0o4755)
    os.setxattr(root / "bin/tool", "security.capability", CAP)
    os.symlink("tool", root / "bin/alias")
    os.link(root / "etc/motd", root / "etc/motd.hard")
    for p in [*root.rglob("*"), root]:
        os.utime(p, ns=(1_500_000_000_123_456_789,) * 2, follow_symlinks=False)
    return root


def layer(changes, compression="gzip", **kw) -> tuple[io.BytesIO, LayerResult]:
    buf = io.BytesIO()
    return buf, write_layer(changes, buf, compression=compression, **kw)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_same_tree_gives_identical_bytes_and_digests(tmp_path, compression):
    a = make_tree(tmp_path / "a", ["etc/passwd", "bin/tool", "etc/motd"])
    b = make_tree(tmp_path / "b", ["etc/motd", "bin/tool", "etc/passwd"])
    (ba, ra), (bb, rb) = layer(diff_trees(None, a), compression), layer(diff_trees(None, b),
                                                                        compression)
    assert ba.getvalue() == bb.getvalue()
    assert ra == rb
    blob = ba.getvalue()
    assert ra.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert ra.size == len(blob)
    raw = {"gzip": lambda d: gzip.decompress(d), "none": lambda d: d,
           "zstd": lambda d: zstandard.ZstdDecompressor().stream_reader(io.BytesIO(d)).read()}
    tar = raw[compression](blob)
    assert ra.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert ra.uncompressed_size == len(tar)
    if compression == "gzip":
        assert blob[4:8] == b"\0\0\0\0"  # header mtime 0
        assert not blob[3] & 0x08  # no file name


def test_entries_sorted_hardlinks_and_pax_only_where_needed(tmp_path):
    root = make_tree(tmp_path / "t", ["etc/passwd", "bin/tool", "etc/motd"])
    (root / ("n" * 120)).write_bytes(b"long")
    buf, _ = layer(diff_trees(None, root), "none")
    raw = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["bin", "bin/alias", "bin/tool", "etc", "etc/motd", "etc/motd.hard",
                     "etc/passwd", "n" * 120]
    by = {m.name: m for m in members}
    assert by["etc/motd.hard"].islnk() and by["etc/motd.hard"].linkname == "etc/motd"
    assert by["bin/tool"].mode == 0o4755 and by["bin/tool"].mtime == 1_500_000_000
    assert by["bin/tool"].pax_headers["SCHILY.xattr.security.capability"].encode(
        "utf-8", "surrogateescape") == CAP
    assert by["bin/alias"].issym() and by["bin/alias"].linkname == "tool"
    assert by["etc/passwd"].pax_headers == {} and by["n" * 120].pax_headers == {"path": "n" * 120}
    assert raw.count(b"././@PaxHeader") == 2  # the xattr and the long name, nothing else
    assert by["etc"].uname == "" and by["etc"].gname == ""


def test_source_date_epoch_clamps_newer_mtimes_only(tmp_path, monkeypatch):
    root = tmp_path / "t"
    root.mkdir()
    (root / "old").write_bytes(b"o")
    (root / "new").write_bytes(b"n")
    os.utime(root / "old", (100, 100))
    os.utime(root / "new", (2_000_000_000, 2_000_000_000))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    buf, _ = layer(diff_trees(None, root), "none")
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        assert {m.name: m.mtime for m in tar} == {"new": 1_000_000_000, "old": 100}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_gnu_tar_extracts_our_layer_to_the_same_tree(tmp_path):
    root = make_tree(tmp_path / "t", ["etc/passwd", "bin/tool", "etc/motd"])
    buf, _ = layer(diff_trees(None, root), "gzip")
    (tmp_path / "l.tgz").write_bytes(buf.getvalue())
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xpzf", str(tmp_path / "l.tgz"),
                    "-C", str(out)], check=True)
    assert tree_state(out, dir_mtimes=False) == tree_state(root, dir_mtimes=False)


def test_write_into_content_store_in_one_pass(tmp_path):
    root = make_tree(tmp_path / "t", ["etc/passwd", "bin/tool", "etc/motd"])
    store = ContentStore(tmp_path / "store")
    res = write_layer_to_store(diff_trees(None, root), store, compression="zstd")
    assert store.exists(res.digest) and store.size(res.digest) == res.size
    assert res.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert store.verify(res.digest)


def test_big_file_streams(tmp_path):
    """A file larger than the read buffer, sparse on disk: content and digest survive."""
    root = tmp_path / "t"
    root.mkdir()
    with open(root / "big", "wb") as f:
        f.truncate(5 * (1 << 20) + 7)
        f.seek(3 << 20)
        f.write(b"marker")
    buf, res = layer(diff_trees(None, root), "gzip")
    out = tmp_path / "out"
    out.mkdir()
    with gzip.open(io.BytesIO(buf.getvalue())) as tar:
        diff_id = apply_layer(tar, out)
    assert diff_id == res.diff_id
    assert (out / "big").read_bytes() == (root / "big").read_bytes()


@pytest.fixture
def overlay(tmp_path):
    """A real overlay mount (lower, upper, merged); unmounted whatever happens."""
    dirs = {n: tmp_path / n for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        d.mkdir()
    lower = dirs["lower"]
    (lower / "keep").write_bytes(b"k")
    (lower / "gone").write_bytes(b"g")
    (lower / "dir").mkdir()
    (lower / "dir" / "old1").write_bytes(b"1")
    (lower / "dir" / "old2").write_bytes(b"2")
    (lower / "deep" / "er").mkdir(parents=True)
    (lower / "deep" / "er" / "f").write_bytes(b"f")
    for p in [*lower.rglob("*"), lower]:
        os.utime(p, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    opts = f"lowerdir={lower},upperdir={dirs['upper']},workdir={dirs['work']},redirect_dir=off"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(dirs["merged"])],
                   check=True)
    try:
        yield dirs
    finally:
        subprocess.run(["umount", str(dirs["merged"])], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="overlayfs needs root")
def test_overlay_upperdir_becomes_oci_whiteouts(overlay, tmp_path):
    merged = overlay["merged"]
    (merged / "gone").unlink()
    shutil.rmtree(merged / "dir")
    (merged / "dir").mkdir()
    (merged / "dir" / "new").write_bytes(b"n")
    (merged / "deep" / "er" / "added").write_bytes(b"a")
    raw = diff_overlay(overlay["upper"])
    names = [c.path for c in raw]
    assert ".wh.gone" in names and "dir/.wh..wh..opq" in names
    assert names.index("dir/.wh..wh..opq") == names.index("dir") + 1
    assert "deep" in names  # copied-up parent: Docker's raw upperdir export keeps it

    # applying the raw layer on the lower gives the merged view
    target = tmp_path / "target"
    subprocess.run(["cp", "-a", f"{overlay['lower']}/.", str(target)], check=True)
    buf, res = layer(raw, "none")
    apply_layer(io.BytesIO(buf.getvalue()), target)
    assert tree_state(target, dir_mtimes=False) == tree_state(merged, dir_mtimes=False)

    # against the lower, the overlay diff is exactly the tree diff
    refined = diff_overlay(overlay["upper"], overlay["lower"])
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", f"{merged}/.", str(copy)], check=True)
    assert refined == [Change(c.path, c.source and c.source.replace(str(copy), str(overlay["upper"])))
                       for c in diff_trees(overlay["lower"], copy)]
    assert "deep" not in [c.path for c in refined] and "dir/.wh.old1" in [c.path for c in refined]


@pytest.mark.skipif(os.geteuid() != 0, reason="overlayfs needs root")
def test_apply_in_overlay_format_serves_as_a_lowerdir(tmp_path):
    """``overlay=True`` writes whiteouts as 0/0 devices and opaque xattrs: stacked as
    lowerdirs, the layers show what applying them in order to one directory shows."""
    base, top = tmp_path / "base", tmp_path / "top"
    (base / "dir").mkdir(parents=True)
    (base / "dir" / "old").write_bytes(b"o")
    (base / "gone").write_bytes(b"g")
    (base / "keep").write_bytes(b"k")
    (top / "dir").mkdir(parents=True)
    (top / "dir" / "new").write_bytes(b"n")
    for p in [*base.rglob("*"), *top.rglob("*")]:
        os.utime(p, (1_000_000_000,) * 2)
    changes = [Change("dir", str(top / "dir")), Change("dir/.wh..wh..opq", None),
               Change("dir/new", str(top / "dir" / "new")), Change(".wh.gone", None)]
    buf, res = layer(changes, "none")
    lower1, lower2, plain = tmp_path / "l1", tmp_path / "l2", tmp_path / "plain"
    for d in (lower1, lower2, plain):
        d.mkdir()
    base_tar, _ = layer(diff_trees(None, base), "none")
    apply_layer(io.BytesIO(base_tar.getvalue()), lower1)
    apply_layer(io.BytesIO(base_tar.getvalue()), plain)
    assert apply_layer(io.BytesIO(buf.getvalue()), lower2, overlay=True) == res.diff_id
    apply_layer(io.BytesIO(buf.getvalue()), plain)
    assert os.stat(lower2 / "gone").st_rdev == 0 and os.path.exists(lower2 / "gone")
    assert os.getxattr(lower2 / "dir", "trusted.overlay.opaque") == b"y"
    merged = tmp_path / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower2}:{lower1}",
                    str(merged)], check=True)
    try:
        assert tree_state(merged, dir_mtimes=False) == tree_state(plain, dir_mtimes=False)
        assert sorted(os.listdir(merged)) == ["dir", "keep"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_unprivileged_apply_keeps_modes_and_refuses_nothing_it_can_do(tmp_path):
    """As an ordinary user: read-only directories still get their children, setuid bits
    and owners are dropped, the layer still applies (the copy driver's everywhere case)."""
    src = tmp_path / "src"
    (src / "ro").mkdir(parents=True)
    (src / "ro" / "f").write_bytes(b"f")
    (src / "suid").write_bytes(b"s")
    os.chmod(src / "suid", 0o4755)
    os.chmod(src / "ro", 0o555)
    buf, res = layer(diff_trees(None, src), "none")
    (tmp_path / "l.tar").write_bytes(buf.getvalue())
    with tempfile.TemporaryDirectory(dir="/var/tmp") as t:  # pytest's tmp is root-only
        out = Path(t, "out")
        out.mkdir()
        os.chown(out, 65534, 65534)
        os.chmod(t, 0o755)
        code = ("import os, sys; from wharfie.layers.apply import apply_layer; "
                "layer = open(sys.argv[1], 'rb'); "  # opened, imported: now drop root
                "os.setgroups([]); os.setgid(65534); os.setuid(65534); "
                "print(apply_layer(layer, sys.argv[2]))")
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "l.tar"), str(out)],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == res.diff_id
        assert (out / "ro" / "f").read_bytes() == b"f"
        assert stat.S_IMODE(os.stat(out / "ro").st_mode) == 0o555
        assert stat.S_IMODE(os.stat(out / "suid").st_mode) == 0o755
        assert os.stat(out / "suid").st_uid == 65534


def test_gnu_tar_rootfs_applies_and_round_trips(busybox_rootfs_tar, tmp_path):
    """A tarball GNU tar made (``./`` names, root entry) applies; its diffID is its sha256;
    written back as a layer and applied again, it gives the same tree."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with open(busybox_rootfs_tar, "rb") as f:
        diff_id = apply_layer(f, first)
    assert diff_id == "sha256:" + hashlib.sha256(busybox_rootfs_tar.read_bytes()).hexdigest()
    assert (first / "bin" / "busybox").stat().st_size > 100_000
    assert os.readlink(first / "bin" / "sh") == "busybox"
    assert stat.S_IMODE((first / "tmp").stat().st_mode) == 0o1777
    buf, res = layer(diff_trees(None, first), "zstd")
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(buf.getvalue())) as tar:
        assert apply_layer(tar, second) == res.diff_id
    assert tree_state(second) == tree_state(first)


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_tar_sparse_files_fifos_and_fractional_mtimes_apply(tmp_path, fmt):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    with open(src / "sparse", "wb") as f:
        f.truncate(10 << 20)
        f.seek(5_000_000)
        f.write(b"middle")
    os.mkfifo(src / "fifo")
    os.utime(src / "sparse", ns=(1_500_000_000_250_000_000,) * 2)
    archive = tmp_path / "a.tar"
    subprocess.run(["tar", f"--format={fmt}", "-S", "-C", str(src), "-cf", str(archive), "."],
                   check=True)
    with open(archive, "rb") as f:
        assert apply_layer(f, out) == "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (out / "sparse").read_bytes() == (src / "sparse").read_bytes()
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
    assert os.stat(out / "sparse").st_mtime_ns // 10**9 == 1_500_000_000


def test_sockets_are_left_out(tmp_path):
    import socket

    root = tmp_path / "t"
    root.mkdir()
    (root / "f").write_bytes(b"f")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "sock"))
        buf, res = layer(diff_trees(None, root), "none")
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        assert tar.getnames() == ["f"]
    assert res.entries == 1


def test_pax_carries_what_ustar_cannot():
    """Sizes over 8 GiB, big ids, pre-1970 mtimes, non-ASCII and long link targets."""
    from wharfie.layers import tarformat as tf

    def first_member(raw: bytes) -> tarfile.TarInfo:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tar:
            member = tar.next()
        assert member is not None
        return member

    big = first_member(tf.header(b"big", tf.REG, size=10**11, uid=3_000_000, gid=4_000_000,
                                 mtime=-5))
    assert (big.size, big.uid, big.gid, big.mtime) == (10**11, 3_000_000, 4_000_000, -5)
    target = "t" * 150
    link = first_member(tf.header("ünï".encode(), tf.SYMLINK, linkname=target.encode()))
    assert link.name == "ünï" and link.linkname == target and link.issym()
    small = tf.header(b"small", tf.REG, size=5, uid=1000, mtime=1_700_000_000)
    assert len(small) == 512  # no PAX header where ustar suffices
    parsed = tarfile.TarInfo.frombuf(small, "utf-8", "surrogateescape")
    assert (parsed.name, parsed.size, parsed.uid, parsed.mtime) == ("small", 5, 1000,
                                                                    1_700_000_000)


def test_existing_directory_attributes_are_replaced_and_whiteouts_lead(tmp_path):
    """Image spec: an existing directory takes the entry's attributes (a removed xattr
    goes), and whiteouts come before their sibling entries."""
    lower, upper, target = tmp_path / "lower", tmp_path / "upper", tmp_path / "target"
    for d in (lower, target):
        (d / "d").mkdir(parents=True)
        os.setxattr(d / "d", "user.gone", b"1")
        (d / "d" / "-old").write_bytes(b"x")
    subprocess.run(["cp", "-a", str(lower), str(upper)], check=True)
    os.removexattr(upper / "d", "user.gone")
    (upper / "d" / "-old").unlink()
    (upper / "d" / "+new").write_bytes(b"n")
    changes = diff_trees(lower, upper)
    assert [c.path for c in changes] == ["d", "d/.wh.-old", "d/+new"]
    buf, _ = layer(changes, "none")
    apply_layer(io.BytesIO(buf.getvalue()), target)
    assert "user.gone" not in os.listxattr(target / "d")
    assert sorted(os.listdir(target / "d")) == ["+new"]
