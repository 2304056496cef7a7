"""The filesystem storage driver: whole files read at any size, None for what is not a
file, and keys that stay under its root."""

import os

import pytest

from wharfie.content.blobstore import CHUNK
from wharfie.server.storage.filesystem import FilesystemDriver


@pytest.mark.parametrize("size", [0, 1, 4095, CHUNK - 1, CHUNK, 2 * CHUNK + 7])
def test_read_returns_the_whole_file(tmp_path, size):
    driver = FilesystemDriver(tmp_path)
    data = os.urandom(size)
    driver.write("repositories/a/_manifests/tags/t/current/link", data)
    assert driver.read("repositories/a/_manifests/tags/t/current/link") == data


def test_read_of_what_is_not_a_file_is_none(tmp_path):
    driver = FilesystemDriver(tmp_path)
    driver.write("a/b", b"x")
    assert driver.read("a") is None  # a directory
    assert driver.read("a/c") is None  # absent
    assert driver.read("a/b/c") is None  # below a file


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../../b", ".."])
def test_keys_outside_the_root_are_refused(tmp_path, key):
    driver = FilesystemDriver(tmp_path)
    with pytest.raises(ValueError, match="bad storage key"):
        driver.read(key)


def test_paths_stay_under_the_root(tmp_path):
    driver = FilesystemDriver(tmp_path / "root")
    driver.write("x/y", b"1")
    assert driver.local_path("x/y") == tmp_path / "root" / "x" / "y"
    assert (tmp_path / "root" / "x" / "y").read_bytes() == b"1"
    assert driver.delete("x/y") and not driver.delete("x/y")


def test_reads_the_kernel_cuts_short_are_continued(tmp_path, monkeypatch):
    """Linux returns at most about 2 GiB per read: a bigger file takes several."""
    driver = FilesystemDriver(tmp_path)
    data = os.urandom(10_000)
    driver.write("big", data)
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real_read(fd, min(n, 999)))
    assert driver.read("big") == data
