"""``extract_tar``: a plain tar (ADD's archives, a context tar, ``--output type=local``)
unpacked by the layer applier: names as docker reads them, whiteout names kept as files,
every link resolved inside the destination."""

from __future__ import annotations

import io
import os

import pytest

from layers.test_layer_malicious import _dir, _file, _hard, _sym, make_tar
from wharfie.layers.apply import LayerRefused, extract_tar


def test_whiteout_names_are_plain_files_and_the_tar_merges_into_what_is_there(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kept").write_text("was there\n")
    (tmp_path / "etc" / "gone").write_text("a layer would delete me\n")
    extract_tar(io.BytesIO(make_tar(_file("etc/.wh.gone", b"a file\n"),
                                    _file("etc/.wh..wh..opq", b"also a file\n"),
                                    _file("etc/new", b"new\n"))), tmp_path)
    assert sorted(os.listdir(tmp_path / "etc")) == [".wh..wh..opq", ".wh.gone", "gone",
                                                    "kept", "new"]
    assert (tmp_path / "etc" / ".wh.gone").read_bytes() == b"a file\n"


def test_absolute_names_and_links_resolve_from_the_destination(tmp_path):
    dest = tmp_path / "dest"
    (dest / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr").mkdir()  # the same names just outside dest must stay empty
    extract_tar(io.BytesIO(make_tar(_sym("lib", "/usr/lib"),
                                    _file("/lib/libc.so", b"libc\n"),
                                    _hard("/../libc.hard", "/usr/lib/libc.so"),
                                    _dir("a/../b"))), dest)
    assert (dest / "usr/lib/libc.so").read_bytes() == b"libc\n"
    assert os.path.samefile(dest / "libc.hard", dest / "usr/lib/libc.so")
    assert (dest / "b").is_dir() and not (dest / "a").exists()
    assert os.listdir(tmp_path / "usr") == []


def test_a_symlink_climbing_above_the_root_stays_at_it(tmp_path):
    """As docker's ADD, which unpacks in a chroot of the destination (issue 14)."""
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_tar(io.BytesIO(make_tar(_sym("up", "../.."), _file("up/x", b"x"))), dest)
    assert (dest / "x").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == ["dest"]


@pytest.mark.parametrize("entries, why", [
    ([_file("../up")], "'../up' refused: path climbs above the root"),
    ([_hard("hl", "../../etc/passwd")], "'hl' refused: hardlink target climbs above the root"),
    ([_hard("hl", "/etc/passwd")], "'hl' refused: it is a hardlink to '/etc/passwd', "
                                   "which does not exist"),
])
def test_links_and_names_reaching_out_are_refused(tmp_path, entries, why):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(LayerRefused, match=why):
        extract_tar(io.BytesIO(make_tar(*entries)), dest)
    assert sorted(os.listdir(tmp_path)) == ["dest"]

