import io
import os
import stat
import tarfile

import pytest

from wharfie.builder.chmod import ModeSpec
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.filecopy import CopyError, CopyOptions, copy_sources
from wharfie.errors import WharfieError
from wharfie.fs.inroot import resolve as secure_join


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    (c / "src" / "pkg").mkdir(parents=True)
    (c / "src" / "main.py").write_text("main")
    (c / "src" / "pkg" / "mod.py").write_text("mod")
    (c / "a.txt").write_text("a")
    (c / "b.txt").write_text("b")
    (c / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(c / "run.sh", 0o644)
    os.utime(c / "a.txt", (1_600_000_000, 1_600_000_000))
    return c


@pytest.fixture
def rootfs(tmp_path):
    r = tmp_path / "rootfs"
    (r / "app").mkdir(parents=True)
    return r


def cp(ctx, rootfs, sources, dest, workdir="/", **kw):
    copy_sources(ctx, sources, rootfs, dest, workdir, CopyOptions(**kw))


def test_file_into_directory_keeps_name_mtime_and_root_owner(ctx, rootfs):
    cp(ctx, rootfs, ["a.txt"], "/app/")
    st = os.lstat(rootfs / "app" / "a.txt")
    assert (rootfs / "app" / "a.txt").read_text() == "a"
    assert st.st_mtime == 1_600_000_000 and (st.st_uid, st.st_gid) == (0, 0)


def test_file_to_new_name_and_relative_to_workdir(ctx, rootfs):
    cp(ctx, rootfs, ["a.txt"], "renamed", workdir="/app")
    assert (rootfs / "app" / "renamed").read_text() == "a"


def test_file_into_existing_directory_without_slash(ctx, rootfs):
    cp(ctx, rootfs, ["a.txt"], "/app")
    assert (rootfs / "app" / "a.txt").read_text() == "a"


def test_directory_copies_its_contents_not_itself(ctx, rootfs):
    cp(ctx, rootfs, ["src"], "/opt/code")
    assert (rootfs / "opt/code/main.py").read_text() == "main"
    assert (rootfs / "opt/code/pkg/mod.py").read_text() == "mod"
    assert not (rootfs / "opt/code/src").exists()


def test_wildcards_match_within_one_component(ctx, rootfs):
    cp(ctx, rootfs, ["*.txt"], "/app/")
    assert sorted(os.listdir(rootfs / "app")) == ["a.txt", "b.txt"]
    cp(ctx, rootfs, ["src/*.py"], "/w/")
    assert os.listdir(rootfs / "w") == ["main.py"]


def test_several_sources_onto_a_file_destination_leave_the_last(ctx, rootfs):
    """BuildKit copies each source in turn (only the classic builder refuses this)."""
    cp(ctx, rootfs, ["a.txt", "b.txt"], "/app/x")
    assert (rootfs / "app/x").read_text() == "b"


def test_missing_source_is_a_clear_error(ctx, rootfs):
    with pytest.raises(CopyError, match='"nope.txt": not found'):
        cp(ctx, rootfs, ["nope.txt"], "/app/")
    cp(ctx, rootfs, ["*.nothing"], "/app/")  # an empty wildcard is not an error (BuildKit)
    assert os.listdir(rootfs / "app") == []


def test_dockerignore_and_exclude(ctx, rootfs):
    ignore = PatternMatcher(["**/mod.py"])
    cp(ctx, rootfs, ["src"], "/s/", ignore=ignore)
    assert (rootfs / "s/main.py").exists() and not (rootfs / "s/pkg/mod.py").exists()
    with pytest.raises(CopyError):
        cp(ctx, rootfs, ["a.txt"], "/x/", ignore=PatternMatcher(["a.txt"]))
    cp(ctx, rootfs, ["."], "/e/", excludes=["*.txt", "src"])
    assert sorted(os.listdir(rootfs / "e")) == ["run.sh"]


def test_chown_and_chmod(ctx, rootfs):
    cp(ctx, rootfs, ["src"], "/own", chown=(1000, 1001), chmod=ModeSpec("0750"))
    for p in ["own", "own/main.py", "own/pkg"]:
        st = os.lstat(rootfs / p)
        assert (st.st_uid, st.st_gid) == (1000, 1001), p
    assert stat.S_IMODE(os.lstat(rootfs / "own/main.py").st_mode) == 0o750
    cp(ctx, rootfs, ["run.sh"], "/bin/", chmod=ModeSpec("u+x,go-r"))
    assert stat.S_IMODE(os.lstat(rootfs / "bin/run.sh").st_mode) == 0o700


@pytest.mark.parametrize("spec,before,after", [
    ("755", 0o600, 0o755), ("a+X", 0o644, 0o644), ("a+X", 0o744, 0o755), ("u=rw,go=", 0o777, 0o600),
    ("+t", 0o755, 0o1755), ("g+s", 0o755, 0o2755),
])
def test_symbolic_modes(spec, before, after):
    assert ModeSpec(spec).apply(stat.S_IFREG | before) == after


def test_invalid_chmod():
    with pytest.raises(WharfieError, match="invalid chmod"):
        ModeSpec("u+q")


def test_parents_keeps_source_paths(ctx, rootfs):
    cp(ctx, rootfs, ["src/pkg/mod.py", "a.txt"], "/p/", parents=True)
    assert (rootfs / "p/src/pkg/mod.py").read_text() == "mod"
    assert (rootfs / "p/a.txt").exists()


def test_symlinks_in_the_image_are_followed_inside_it(ctx, rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), rootfs / "evil")  # absolute link: means /<outside> in the image
    os.symlink("../../../..", rootfs / "up")
    cp(ctx, rootfs, ["a.txt"], "/evil/")
    cp(ctx, rootfs, ["b.txt"], "/up/")
    assert list(outside.iterdir()) == []
    assert secure_join(rootfs, "/evil/a.txt").read_text() == "a"
    assert (rootfs / "b.txt").read_text() == "b"


def test_context_symlink_cannot_read_outside(ctx, rootfs, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    os.symlink(str(secret), ctx / "link")
    with pytest.raises(CopyError):
        cp(ctx, rootfs, ["link"], "/app/")


def _tar_gz(path, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid, info.gid = 7, 8
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def test_add_extracts_local_archives_keeping_owners(ctx, rootfs):
    _tar_gz(ctx / "pkg.tar.gz", [("x/y.txt", b"yy")])
    cp(ctx, rootfs, ["pkg.tar.gz"], "/opt/", extract_archives=True)
    st = os.lstat(rootfs / "opt/x/y.txt")
    assert (rootfs / "opt/x/y.txt").read_bytes() == b"yy" and (st.st_uid, st.st_gid) == (7, 8)
    cp(ctx, rootfs, ["pkg.tar.gz"], "/raw/")  # COPY does not extract
    assert (rootfs / "raw/pkg.tar.gz").is_file()


def test_add_refuses_archive_escaping_the_destination(ctx, rootfs, tmp_path):
    _tar_gz(ctx / "evil.tar.gz", [("../../escaped.txt", b"x")])
    with pytest.raises(CopyError, match="cannot unpack"):
        cp(ctx, rootfs, ["evil.tar.gz"], "/opt/", extract_archives=True)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_big_tree_is_copied_in_parallel_with_the_same_result(tmp_path, rootfs):
    from wharfie.builder import filecopy as copy_module

    src = tmp_path / "big"
    for n in range(3 * copy_module.PARALLEL_FROM):
        d = src / f"d{n % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{n}").write_text(f"file {n}\n")
        os.chmod(d / f"f{n}", 0o600 if n % 2 else 0o755)
    os.symlink("d0/f0", src / "link")
    cp(tmp_path, rootfs, ["big"], "/data", chown=(1000, 1001), chmod=ModeSpec("g+w"))
    copied = sorted(p.relative_to(rootfs / "data") for p in (rootfs / "data").rglob("*"))
    assert copied == sorted(p.relative_to(src) for p in src.rglob("*"))
    for n in range(3 * copy_module.PARALLEL_FROM):
        host = rootfs / "data" / f"d{n % 7}" / f"f{n}"
        st = os.lstat(host)
        assert host.read_text() == f"file {n}\n" and (st.st_uid, st.st_gid) == (1000, 1001)
        assert stat.S_IMODE(st.st_mode) == (0o620 if n % 2 else 0o775)
    assert os.readlink(rootfs / "data" / "link") == "d0/f0"
    os.mkfifo(src / "d3" / "pipe")  # one bad entry among many: the error still surfaces
    with pytest.raises(CopyError, match="not a regular file"):
        cp(tmp_path, rootfs, ["big"], "/again")
