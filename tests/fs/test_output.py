"""open_output / output_dir: what sits at a user-named output path is never replaced unless
it is a regular file (or nothing), and then only whole."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading

import pytest

from wharfie.errors import WharfieError
from wharfie.fs.output import open_output, output_dir, write_bytes


def small_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(300_000)  # more than a pipe buffer: the reader must keep up
        info = tarfile.TarInfo("payload")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_fifo_in_thread(fifo) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    return t, got


def test_a_fifo_is_written_through_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = small_tar()
    t, got = read_fifo_in_thread(fifo)
    with open_output(fifo) as f:
        f.write(data)
    t.join(10)
    assert got == [data]
    with tarfile.open(fileobj=io.BytesIO(got[0])) as tf:
        assert tf.getnames() == ["payload"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_symlink_stays_a_link_and_its_target_gets_the_data(tmp_path):
    target = tmp_path / "real.tar"
    target.write_bytes(b"old contents that are longer than the new ones")
    link = tmp_path / "link.tar"
    link.symlink_to(target)
    with open_output(link) as f:
        f.write(b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"  # truncated, not appended to
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tar", "real.tar"]


def test_a_dangling_symlink_is_refused_and_creates_nothing(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(WharfieError, match="symlink to a missing file"), open_output(link) as f:
        f.write(b"x")
    assert not (tmp_path / "missing").exists() and link.is_symlink()


def test_a_character_device_stays_a_character_device(tmp_path):
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_bytes(node, small_tar())
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


def test_a_directory_is_refused_in_one_clear_message(tmp_path):
    with pytest.raises(WharfieError) as e, open_output(tmp_path) as f:
        f.write(b"x")
    assert str(e.value) == f"{tmp_path} is a directory: name a file to write"
    assert list(tmp_path.iterdir()) == []


def test_a_regular_file_is_replaced_whole_keeping_its_mode(tmp_path):
    out = tmp_path / "out.tar"
    out.write_bytes(b"old")
    out.chmod(0o640)
    with open(out, "rb") as old_reader:
        with open_output(out) as f:
            f.write(b"new")
            assert out.read_bytes() == b"old"  # nothing visible until it is whole
        assert old_reader.read() == b"old"  # renamed over, not truncated in place
    assert out.read_bytes() == b"new"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.tar"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    out = tmp_path / "out.tar"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), open_output(out) as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tar"]


def test_a_target_turned_into_a_fifo_meanwhile_is_not_renamed_over(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WharfieError, match="replaced by a non-regular file"), \
            open_output(out) as f:
        f.write(b"data")
        os.mkfifo(out)
    assert stat.S_ISFIFO(os.lstat(out).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_new_file_gets_the_umask_mode_and_a_missing_directory_is_named(tmp_path):
    write_bytes(tmp_path / "new", b"x")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o666 & ~_umask()
    with pytest.raises(WharfieError, match=f"directory {tmp_path / 'no'} does not exist"):
        write_bytes(tmp_path / "no" / "file", b"x")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_dir_refuses_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dest").symlink_to(elsewhere)
    with pytest.raises(WharfieError, match="is a symlink"), output_dir(tmp_path / "dest"):
        pass


def test_output_dir_writes_stay_in_the_directory_when_it_is_swapped(tmp_path):
    dest = tmp_path / "a" / "dest"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with output_dir(dest) as d:
        dest.rename(tmp_path / "moved")
        dest.symlink_to(elsewhere)  # swapped underneath, after the check
        (d / "index.json").write_text("{}")
    assert (tmp_path / "moved" / "index.json").read_text() == "{}"
    assert list(elsewhere.iterdir()) == []
