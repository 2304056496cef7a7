"""One suite, both drivers: overlayfs and copy must build the same trees and the same diffs."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from layers.treeutil import tree_state
from wharfie import snapshots
from wharfie.errors import Conflict, DigestMismatch
from wharfie.layers.apply import LayerReadError, apply_layer
from wharfie.oci.digest import Digest
from wharfie.snapshots import chain_id, chain_ids, for_root, unpack_image
from wharfie.testing import random

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlayfs and owners need root")
DRIVERS = ["overlay", "copy"]
EPOCH = "1600000000"


def tar_of(*entries: tuple[str, bytes | str | None, dict]) -> bytes:
    """Entries: (name, data for a file / None for a dir / "->target" for a symlink, attrs)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, attrs in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = attrs.get("mtime", 1_500_000_000)
            ti.uid = ti.gid = attrs.get("uid", 0)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, attrs.get("mode", 0o755)
                tar.addfile(ti)
            elif isinstance(data, str):
                ti.type, ti.linkname = (tarfile.LNKTYPE, data[2:]) if data.startswith("=>") \
                    else (tarfile.SYMTYPE, data[2:])
                tar.addfile(ti)
            else:
                ti.size, ti.mode = len(data), attrs.get("mode", 0o644)
                if "xattrs" in attrs:
                    ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in attrs["xattrs"].items()}
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


BASE = tar_of(("bin", None, {}), ("bin/sh", b"#!shell" * 100, {"mode": 0o755}),
              ("etc", None, {}), ("etc/passwd", b"root:x:0:0\n", {}),
              ("etc/motd", b"hello\n", {}), ("etc/motd.link", "=>etc/motd", {}),
              ("opt", None, {}), ("opt/app", None, {}), ("opt/app/a", b"a", {}),
              ("opt/app/b", b"b", {}), ("usr", None, {}), ("usr/lib", None, {}),
              ("lib", "->usr/lib", {}), ("tmp", None, {"mode": 0o1777}),
              ("home", None, {}), ("home/app", None, {"uid": 1000, "mode": 0o700}),
              ("home/app/.profile", b"PS1=$\n", {"uid": 1000, "mode": 0o600}))
# a layer that deletes, makes a dir opaque, edits without listing parents, and writes
# through the lib -> usr/lib symlink
MIDDLE = tar_of(("etc/.wh.motd", b"", {}), ("etc/passwd", b"root:x:0:0\napp:x:1000\n", {}),
                ("opt/app", None, {}), ("opt/app/.wh..wh..opq", b"", {}),
                ("opt/app/c", b"c", {}), ("lib/libc.so", b"\x7fELF", {"mode": 0o755}),
                ("bin/ping", b"ping", {"mode": 0o4755, "xattrs": {
                    "security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12}}))
TOP = tar_of(("home/.wh.app", b"", {}), ("etc/motd", b"back\n", {}),
             ("new", None, {}), ("new/deep", None, {}), ("new/deep/file", b"x" * 70000, {}))
LAYERS = [BASE, MIDDLE, TOP]


def reference_tree(tmp: Path, layers: list[bytes]) -> dict:
    """What the layers give when applied one after another to a plain directory."""
    ref = tmp / "reference"
    ref.mkdir()
    for data in layers:
        apply_layer(io.BytesIO(data), ref)
    return tree_state(ref, dir_mtimes=False)


def _cleanup(snap: snapshots.Snapshotter) -> None:
    for key in snap.active_keys():
        snap.remove(key)
    for chain in snap.chains():
        snap.release(chain)


@pytest.fixture(params=DRIVERS)
def snap(request, tmp_path):
    s = for_root(tmp_path / "root", request.param)
    yield s
    _cleanup(s)
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read(), "a snapshot mount was left behind"


@pytest.fixture
def both(tmp_path):
    pair = [for_root(tmp_path / d, d) for d in DRIVERS]
    yield pair
    for s in pair:
        _cleanup(s)


def test_chain_ids_follow_the_oci_definition():
    d1, d2 = Digest.of(b"1"), Digest.of(b"2")
    c = chain_ids([d1, d2])
    assert c[0] == d1
    assert c[1] == Digest.of(f"{d1} {d2}".encode())
    assert chain_id(c[0], d2) == c[1]


def test_unpack_image_gives_the_applied_tree(snap, tmp_path):
    image = random.image(contents=LAYERS)
    top = unpack_image(snap, image)
    assert top == chain_ids([Digest.of(b) for b in LAYERS])[-1]
    view = snap.view(top)
    assert tree_state(view, dir_mtimes=False) == reference_tree(tmp_path, LAYERS)
    assert (view / "etc" / "motd.link").read_bytes() == b"hello\n"  # outlived its link
    assert (view / "etc" / "motd").read_bytes() == b"back\n"
    assert (view / "usr" / "lib" / "libc.so").exists() and (view / "lib").is_symlink()
    assert sorted(os.listdir(view / "opt" / "app")) == ["c"]
    assert (view / "home").is_dir() and not (view / "home" / "app").exists()
    assert os.getxattr(view / "bin" / "ping", "security.capability")[:4] == b"\x01\x00\x00\x02"
    if snap.driver == "overlay":  # a read-only mount, enforced by the kernel
        with pytest.raises(OSError):
            (view / "etc" / "x").write_text("x")
    # shared: a second image with the same base extracts only its own layer
    calls = []
    other = random.image(contents=[BASE, TOP])
    unpack_image(snap, other, progress=lambda i, n, d: calls.append(i))
    assert calls == [1]
    assert snap.usage().layers == 4


def test_drivers_agree_on_unpacked_chains(both, tmp_path):
    views = []
    for s in both:
        top = unpack_image(s, random.image(contents=LAYERS))
        views.append(tree_state(s.view(top), dir_mtimes=False))
    assert views[0] == views[1]


def change(root: Path) -> None:
    """What a RUN step might do, touching every kind of change."""
    (root / "etc" / "passwd").write_text("root:x:0:0\nnew:x:1:1\n")   # edit in place
    (root / "etc" / "motd").unlink()                                   # delete a hardlinked file
    shutil.rmtree(root / "opt" / "app")                                # replace a directory
    (root / "opt" / "app").mkdir()
    (root / "opt" / "app" / "a").write_text("a")
    os.chmod(root / "bin" / "sh", 0o700)                              # metadata only
    os.chown(root / "home" / "app" / ".profile", 0, 0)
    shutil.rmtree(root / "home")                                       # delete a tree
    (root / "srv").mkdir()                                             # new things
    (root / "srv" / "data").write_bytes(b"d" * 100_000)
    os.link(root / "srv" / "data", root / "srv" / "data.2")
    os.symlink("/srv/data", root / "srv" / "ln")
    os.mkfifo(root / "srv" / "fifo")
    os.setxattr(root / "srv" / "data", "user.origin", b"test")
    (root / "tmp").rmdir()                                             # dir -> file
    (root / "tmp").write_text("now a file")


def test_drivers_agree_on_commits(both, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    results = []
    for s in both:
        base = unpack_image(s, random.image(contents=[BASE]))
        rootfs = s.prepare("build-1", base)
        change(rootfs)
        expected = tree_state(rootfs, dir_mtimes=False)
        blob = io.BytesIO()
        done = s.commit("build-1", blob)
        assert s.active_keys() == []
        assert s.has(done.chain_id) and done.chain_id == chain_id(base, done.layer.diff_id)
        # the committed snapshot is the changed tree, reusable without extraction
        assert tree_state(s.view(done.chain_id), dir_mtimes=False) == expected
        results.append((done.layer, blob.getvalue()))
    (la, ba), (lb, bb) = results
    assert la == lb and ba == bb  # same change, same layer, byte for byte
    assert la.entries >= 15


def test_prepare_from_empty_and_commit_into_store(snap, tmp_path, monkeypatch):
    from wharfie.content.blobstore import ContentStore
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    rootfs = snap.prepare("scratch", None)
    (rootfs / "hello").write_text("world")
    store = ContentStore(tmp_path / "store")
    done = snap.commit("scratch", store, compression="zstd")
    assert store.exists(done.layer.digest)
    assert done.chain_id == done.layer.diff_id
    assert (snap.view(done.chain_id) / "hello").read_text() == "world"


def test_path_and_remove(snap):
    rootfs = snap.prepare("c1", None)
    assert snap.path("c1") == rootfs
    with pytest.raises(Conflict):
        snap.prepare("c1", None)
    (rootfs / "f").write_text("x")
    snap.remove("c1")
    assert snap.active_keys() == [] and not rootfs.exists()


def test_wrong_diff_id_publishes_nothing(snap):
    with pytest.raises(DigestMismatch):
        snap.add_layer(None, Digest.of(b"something else"), lambda: io.BytesIO(BASE))
    assert snap.chains() == [] and os.listdir(snap.tmp_dir) == []


def test_crash_mid_extraction_leaves_no_layer(snap, tmp_path):
    class Dies(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 2048:
                raise OSError("connection reset")
            return super().read(n)

    with pytest.raises(LayerReadError, match="connection reset"):
        snap.add_layer(None, Digest.of(BASE), lambda: Dies(BASE))
    assert snap.chains() == [] and os.listdir(snap.tmp_dir) == []
    # debris of a killed process (no flock held) is swept by the next snapshotter
    (snap.tmp_dir / "layer-dead" / "fs").mkdir(parents=True)
    (snap.tmp_dir / "layer-young").mkdir()
    os.utime(snap.tmp_dir / "layer-dead", (1, 1))
    again = for_root(tmp_path / "root", snap.driver)
    assert os.listdir(again.tmp_dir) == ["layer-young"]  # may not be locked by its owner yet
    with again._workdir("layer-") as live:  # an old dir still locked by a live extraction
        os.utime(live, (1, 1))
        for_root(tmp_path / "root", snap.driver)
        assert live.is_dir()


def test_remove_chain_refuses_parents(snap):
    top = unpack_image(snap, random.image(contents=LAYERS[:2]))
    base = snap.parent_of(top)
    with pytest.raises(Conflict):
        snap.remove_chain(base)
    snap.remove_chain(top)
    snap.remove_chain(base)
    assert snap.chains() == []


def test_many_layers(snap):
    """More layers than Docker allows (127) still mount: short lowerdir names."""
    diff_ids, parent = [], None
    for i in range(140):
        data = tar_of((f"f{i:03d}", str(i).encode(), {}))
        parent = snap.add_layer(parent, Digest.of(data), lambda d=data: io.BytesIO(d))
        diff_ids.append(Digest.of(data))
    assert parent == chain_ids(diff_ids)[-1]
    view = snap.view(parent)
    assert len(os.listdir(view)) == 140 and (view / "f139").read_text() == "139"
    rootfs = snap.prepare("top", parent)
    assert (rootfs / "f000").read_text() == "0"


def test_for_root_prefers_overlay_and_honours_the_override(tmp_path, monkeypatch):
    assert for_root(tmp_path / "a").driver == "overlay"
    assert (tmp_path / "a" / "snapshots" / "driver").read_text() == "overlay"
    monkeypatch.setenv("WHARFIE_SNAPSHOTTER", "copy")
    assert for_root(tmp_path / "b").driver == "copy"


def test_a_root_keeps_the_driver_it_was_set_up_with(tmp_path, monkeypatch):
    """The probe runs once: a root set up with copy stays copy even where overlay works."""
    (tmp_path / "snapshots").mkdir(parents=True)
    (tmp_path / "snapshots" / "driver").write_text("copy")
    assert for_root(tmp_path).driver == "copy"
    monkeypatch.setattr(snapshots, "overlay_works", lambda home: False)
    assert for_root(tmp_path / "other").driver == "copy"


def test_sneaky_edit_found_and_untouched_files_not_read(snap, monkeypatch):
    """Same size, mtime put back: still a change. And only touched files are read to tell."""
    from wharfie.layers import diff

    base = unpack_image(snap, random.image(contents=[BASE]))
    rootfs = snap.prepare("k", base)
    p = rootfs / "etc" / "passwd"
    st = p.stat()
    p.write_bytes(b"ROOT" + p.read_bytes()[4:])
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    compared: list[str] = []
    real = diff._same_content
    monkeypatch.setattr(diff, "_same_content", lambda a, b: compared.append(b) or real(a, b))
    assert [c.path for c in snap.changes("k")] == ["etc/passwd"]
    assert [Path(b).name for b in compared] == ["passwd"]


def _add(snap, tar: bytes, parent=None):
    diff_id = Digest.of(tar)
    return snap.add_layer(parent, diff_id, lambda: io.BytesIO(tar))


def test_layers_of_an_earlier_boot_are_dropped_unless_a_sync_confirmed_them(snap, tmp_path):
    base = _add(snap, BASE)
    top = _add(snap, tar_of(("new", b"n", {})), base)
    layer = snap.layer_dir(top)
    assert (layer / "boot").read_text() == snapshots.durability.boot_id()
    (snap.layer_dir(base) / "boot").unlink()  # as a sync confirms it
    # a reboot (a crash) before any sync: the top layer's files may be truncated
    (layer / "boot").write_text("an-earlier-boot")
    (snap.home / "boot").write_text("an-earlier-boot")
    again = for_root(tmp_path / "root", snap.driver)
    assert not again.has(top) and again.has(base)
    assert (snap.home / "boot").read_text() == snapshots.durability.boot_id()
    assert _add(again, tar_of(("new", b"n", {})), base) == top  # extracted again on demand
    assert (again.view(top) / "new").read_bytes() == b"n"


def test_settled_layers_are_confirmed_by_one_background_sync(snap, tmp_path):
    base = _add(snap, BASE)
    marker = snap.home / "unsynced"
    assert snap.confirming is None and marker.exists()  # too fresh: no sync yet
    old = os.stat(marker).st_mtime - snapshots.durability.SETTLE_SECONDS - 5
    for p in (marker, snap.layer_dir(base) / "boot"):
        os.utime(p, (old, old))
    again = for_root(tmp_path / "root", snap.driver)
    again.confirming.join(timeout=60)
    assert not (snap.layer_dir(base) / "boot").exists() and not marker.exists()
    (snap.home / "boot").write_text("an-earlier-boot")  # a confirmed layer outlives a reboot
    assert for_root(tmp_path / "root", snap.driver).has(base)


def test_build_steps_mount_volatile_and_containers_do_not(tmp_path):
    snap = for_root(tmp_path / "root", "overlay")
    try:
        snap.prepare("step", None, volatile=True)
        snap.prepare("ctr", None)
        with open("/proc/self/mountinfo") as f:
            opts = {line.split()[4].rsplit("/", 2)[-2]: line for line in f
                    if str(tmp_path) in line}
        assert "volatile" in opts["step"] and "volatile" not in opts["ctr"]
        snap.remove("step")
        snap.prepare("step", None, volatile=True)  # the volatile workdir was cleared
        os.system(f"umount {snap.active_dir / 'step' / 'merged'}")
        assert (snap.path("step") / ".").is_dir()  # remounted after a lost mount
    finally:
        _cleanup(snap)
