"""USER resolution against an image's /etc/passwd and /etc/group, as moby/sys/user does it."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidInput
from wharfie.fs.inroot import read_text, remove_stub, resolve
from wharfie.runtime import ContainerError, ExecUser, resolve_user


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:app:/home/app:/bin/sh\n"
        "svc:x:1001:1001::/srv:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text(
        "root:x:0:\napp:x:1000:\nsvc:x:1001:\nstaff:x:50:app,svc\naudio:x:29:app\n")
    return tmp_path


def test_default_is_root(etc):
    assert resolve_user(etc, "") == ExecUser(0, 0, [0], "/root")


def test_name_gets_its_groups(etc):
    assert resolve_user(etc, "app") == ExecUser(1000, 1000, [1000, 50, 29], "/home/app")


def test_uid_matches_passwd_entry(etc):
    assert resolve_user(etc, "1001") == ExecUser(1001, 1001, [1001, 50], "/srv")


def test_unknown_uid_gets_gid_0(etc):
    assert resolve_user(etc, "4242") == ExecUser(4242, 0, [0], "/")


def test_explicit_group_drops_supplementary(etc):
    assert resolve_user(etc, "app:staff") == ExecUser(1000, 50, [50], "/home/app")
    assert resolve_user(etc, "1234:5678") == ExecUser(1234, 5678, [5678], "/")


def test_unknown_names_are_errors(etc):
    with pytest.raises(ContainerError, match="unable to find user nobody2"):
        resolve_user(etc, "nobody2")
    with pytest.raises(ContainerError, match="unable to find group wheel"):
        resolve_user(etc, "app:wheel")
    with pytest.raises(InvalidInput, match="range"):
        resolve_user(etc, "99999999999")


def test_no_passwd_file_allows_numbers_only(tmp_path):
    assert resolve_user(tmp_path, "7:8") == ExecUser(7, 8, [8], "/")
    with pytest.raises(ContainerError):
        resolve_user(tmp_path, "app")


def test_symlinks_stay_inside_the_rootfs(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").symlink_to(f"../../../../../../..{outside}/passwd")
    assert resolve(root, "/etc/passwd") == root / outside.relative_to("/") / "passwd"
    assert read_text(root, "/etc/passwd") is None
    with pytest.raises(ContainerError):
        resolve_user(root, "evil")


def test_stub_removal_never_follows_symlinks(tmp_path):
    host_etc = tmp_path / "host-etc"
    host_etc.mkdir()
    (host_etc / "hostname").write_text("")
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(host_etc)
    remove_stub(root, "/etc/hostname")
    assert (host_etc / "hostname").exists()
    (root / "etc").unlink()
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("")
    (root / "etc" / "kept").write_text("data")
    remove_stub(root, "/etc/hostname")
    remove_stub(root, "/etc/kept")
    remove_stub(root, "/etc")
    assert not (root / "etc" / "hostname").exists()
    assert (root / "etc" / "kept").read_text() == "data"


def test_resolve_clamps_dotdot_after_missing_components(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert resolve(root, "missing/../../../etc/passwd") == root / "etc" / "passwd"
    (root / "link").symlink_to("/no/such/dir")
    assert resolve(root, "link/../../x") == root / "no" / "x"
    assert resolve(root, "link", follow_last=False) == root / "link"
