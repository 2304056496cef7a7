"""A corpus of hostile layer tars: each is refused with a clear error, nothing lands outside."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from layers.treeutil import tree_state
from wharfie.errors import InvalidInput
from wharfie.layers.apply import LayerRefused, apply_layer


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", link: str = "",
          pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.size = len(data)
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if pax:
        ti.pax_headers = pax
    return ti, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def _dir(name):
    return _info(name, tarfile.DIRTYPE)


def _sym(name, target):
    return _info(name, tarfile.SYMTYPE, link=target)


def _file(name, data=b"pwned"):
    return _info(name, data=data)


def _hard(name, target):
    return _info(name, tarfile.LNKTYPE, link=target)


def _pax_path_override():
    ti, data = _file("innocent")
    ti.pax_headers = {"path": "../../escaped"}
    return ti, data


def _chardev(name, major=1, minor=3):
    ti, data = _info(name, tarfile.CHRTYPE)
    ti.devmajor, ti.devminor = major, minor
    return ti, data


# name -> (tar bytes, keyword arguments for apply_layer, text the error must contain)
CORPUS: dict[str, tuple[bytes, dict, str]] = {
    "dotdot": (make_tar(_file("../escaped")), {}, "'..'"),
    "dotdot-middle": (make_tar(_dir("a"), _file("a/../../escaped")), {}, "'..'"),
    "absolute": (make_tar(_file("/tmp/escaped")), {}, "absolute"),
    "symlink-climb": (make_tar(_sym("up", "../../.."), _file("up/escaped")), {}, "above the root"),
    "symlink-absolute-climb": (make_tar(_sym("s", "/../../outside"), _file("s/escaped")), {},
                               "above the root"),
    "dir-swapped-for-symlink": (make_tar(_dir("d"), _file("d/ok"), _sym("d", "../../outside"),
                                         _file("d/escaped")), {}, "above the root"),
    "symlink-chain": (make_tar(_sym("a", "b"), _sym("b", "../.."), _file("a/escaped")), {},
                      "above the root"),
    "symlink-loop": (make_tar(_sym("a", "b"), _sym("b", "a"), _file("a/x")), {},
                     "too many levels"),
    "hardlink-dotdot": (make_tar(_hard("h", "../../outside/secret")), {}, "'..'"),
    "hardlink-absolute": (make_tar(_hard("h", "/etc/passwd")), {}, "absolute"),
    "hardlink-via-symlink": (make_tar(_sym("s", "../.."), _hard("h", "s/outside/secret")), {},
                             "above the root"),
    "hardlink-to-dir": (make_tar(_dir("d"), _hard("h", "d")), {}, "directory"),
    "hardlink-missing": (make_tar(_hard("h", "nothing/here")), {}, "does not exist"),
    "whiteout-dotdot": (make_tar(_file("../.wh.outside")), {}, "'..'"),
    "whiteout-of-dotdot": (make_tar(_dir("a"), _file("a/.wh..")), {}, "invalid name"),
    "whiteout-via-symlink": (make_tar(_sym("s", "../../outside"), _file("s/.wh.secret")), {},
                             "above the root"),
    "opaque-via-symlink": (make_tar(_sym("s", "../../outside"), _file("s/.wh..wh..opq")), {},
                           "above the root"),
    "pax-path-override": (make_tar(_pax_path_override()), {}, "'..'"),
    "gnu-longname-dotdot": (make_tar(_file("../" + "x" * 150), fmt=tarfile.GNU_FORMAT), {},
                            "'..'"),
    "device-unprivileged": (make_tar(_chardev("null")), {"privileged": False}, "device node"),
    "overlay-xattr": (make_tar(_info("d", tarfile.DIRTYPE,
                                     pax={"SCHILY.xattr.trusted.overlay.opaque": "y"})), {},
                      "trusted.overlay.opaque"),
    "fake-whiteout-in-overlay-dir": (make_tar(_chardev("x", 0, 0)), {"overlay": True},
                                     "reserved for overlayfs"),
    "parent-is-a-file": (make_tar(_file("f"), _file("f/x")), {}, "not a directory"),
}


@pytest.fixture
def jail(tmp_path: Path):
    """root sits two levels deep; ``outside`` holds files an escape would touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep me")
    root = tmp_path / "a" / "root"
    root.mkdir(parents=True)
    return tmp_path, root


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_malicious_layer_is_refused_and_nothing_escapes(jail, case):
    top, root = jail
    data, kwargs, reason = CORPUS[case]
    before = tree_state(top / "outside"), sorted(os.listdir(top)), sorted(os.listdir(top / "a"))
    with pytest.raises(LayerRefused) as info:
        apply_layer(io.BytesIO(data), root, **kwargs)
    message = str(info.value)
    assert message.startswith("layer entry '") and "refused" in message
    assert reason in message
    after = tree_state(top / "outside"), sorted(os.listdir(top)), sorted(os.listdir(top / "a"))
    assert after == before
    assert not any(p.name.startswith("escaped") for p in top.rglob("*") if root not in p.parents)
    assert not Path("/tmp/escaped").exists()


def test_truncated_tar_is_invalid_input(tmp_path):
    data = make_tar(_file("big", b"x" * 5000))[:1500]
    with pytest.raises(InvalidInput, match="corrupt layer tar"):
        apply_layer(io.BytesIO(data), tmp_path)


def test_absolute_symlink_resolves_inside_the_root(jail):
    """``etc -> /real`` then ``etc/f``: the container's /real, i.e. root/real, not the host's."""
    top, root = jail
    (root / "real").mkdir()
    apply_layer(io.BytesIO(make_tar(_sym("etc", "/real"), _file("etc/f", b"inside"))), root)
    assert (root / "real" / "f").read_bytes() == b"inside"
    assert (root / "etc").is_symlink()


def test_relative_symlink_parent_is_followed_like_merged_usr(tmp_path):
    """Debian's ``lib -> usr/lib``: a later layer writing ``lib/x`` writes ``usr/lib/x``."""
    apply_layer(io.BytesIO(make_tar(_dir("usr"), _dir("usr/lib"), _sym("lib", "usr/lib"),
                                    _file("lib/x", b"so"))), tmp_path)
    assert (tmp_path / "usr" / "lib" / "x").read_bytes() == b"so"


def test_symlink_as_last_component_is_replaced_not_followed(jail):
    top, root = jail
    os.symlink(str(top / "outside" / "secret"), root / "victim")
    apply_layer(io.BytesIO(make_tar(_file("victim", b"new"))), root)
    assert (top / "outside" / "secret").read_text() == "keep me"
    assert (root / "victim").read_bytes() == b"new" and not (root / "victim").is_symlink()


def test_opaque_marker_after_its_siblings_keeps_them(tmp_path):
    """The image spec's own example: the marker hides lower layers only, wherever it sits."""
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "bar").write_bytes(b"lower")
    (tmp_path / "a" / "old").write_bytes(b"lower")
    apply_layer(io.BytesIO(make_tar(_dir("a"), _dir("a/b"), _dir("a/b/c"), _file("a/b/c/foo"),
                                    _file("a/.wh..wh..opq", b""))), tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a", "a/b", "a/b/c", "a/b/c/foo"]


def test_whiteout_spares_what_the_same_layer_wrote(tmp_path):
    """Whiteouts apply to lower layers only: ``x`` then ``.wh.x`` in one layer keeps ``x``."""
    (tmp_path / "y").write_bytes(b"lower")
    apply_layer(io.BytesIO(make_tar(_file("x", b"mine"), _file(".wh.x", b""),
                                    _file(".wh.y", b""))), tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["x"]
    assert (tmp_path / "x").read_bytes() == b"mine"
