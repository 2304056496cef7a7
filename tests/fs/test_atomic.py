"""fs.atomic: the one write-temp-beside, fsync, rename, fsync-dir helper."""

from __future__ import annotations

import os
import stat

import pytest

from wharfie.fs.atomic import atomic_write


def test_secret_is_created_with_its_mode_whatever_the_umask(tmp_path):
    """``mode`` is the file's mode from the start: a 0 umask cannot widen it, a 077 one
    cannot take the owner's bits (users, robots and config.json rely on this)."""
    target = tmp_path / "secret.json"
    for umask in (0o000, 0o277):
        old = os.umask(umask)
        try:
            atomic_write(target, b"token", mode=0o600)
        finally:
            os.umask(old)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.read_bytes() == b"token"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "data"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize(("sync", "fsyncs"), [(True, 2), (False, 0)])
def test_the_file_and_its_directory_are_synced_unless_asked_not_to(tmp_path, monkeypatch,
                                                                  sync, fsyncs):
    """The data before the rename and the directory after it; ``sync=False`` (a cache whose
    reader checks what it reads) waits for neither."""
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    target = tmp_path / "data"
    atomic_write(target, b"new", sync=sync)
    assert target.read_bytes() == b"new" and len(calls) == fsyncs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]

