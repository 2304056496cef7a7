import io
import os
import tarfile

import blake3
import pytest

from wharfie.builder.context import SMALL_FILE, BuildContext, HashCache
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.filecopy import CopyError
from wharfie.errors import InvalidInput


@pytest.fixture
def ctxdir(tmp_path):
    c = tmp_path / "ctx"
    (c / "app").mkdir(parents=True)
    (c / "app" / "main.py").write_text("print(1)")
    (c / "README").write_text("docs")
    return c


def test_checksum_changes_with_content_mode_and_names_not_mtime(ctxdir, tmp_path):
    ctx = BuildContext(ctxdir, hash_cache=HashCache(tmp_path / "h.db"))
    first = ctx.checksum(["app"])
    os.utime(ctxdir / "app" / "main.py", (1, 1))
    assert ctx.checksum(["app"]) == first
    (ctxdir / "app" / "main.py").write_text("print(2)")
    second = ctx.checksum(["app"])
    assert second != first
    os.chmod(ctxdir / "app" / "main.py", 0o755)
    third = ctx.checksum(["app"])
    assert third != second
    (ctxdir / "app" / "new.py").write_text("")
    assert ctx.checksum(["app"]) != third


def test_unrelated_files_do_not_change_the_checksum(ctxdir):
    ctx = BuildContext(ctxdir)
    before = ctx.checksum(["app"])
    (ctxdir / "README").write_text("changed")
    assert ctx.checksum(["app"]) == before


def test_ignored_files_do_not_count(ctxdir):
    ctx = BuildContext(ctxdir, ignore=PatternMatcher(["**/*.pyc"]))
    before = ctx.checksum(["."])
    (ctxdir / "app" / "x.pyc").write_text("junk")
    assert ctx.checksum(["."]) == before


def test_hash_cache_persists_across_instances(ctxdir, tmp_path):
    db = tmp_path / "h.db"
    BuildContext(ctxdir, hash_cache=HashCache(db)).checksum(["app"])
    cache = HashCache(db)
    st = os.lstat(ctxdir / "app" / "main.py")
    row = cache._db.execute("SELECT digest FROM file_digests WHERE path=?",
                            (str(ctxdir / "app" / "main.py"),)).fetchone()
    assert row and cache.digest(ctxdir / "app" / "main.py", st) == row[0]


@pytest.mark.parametrize("size", [0, 5, SMALL_FILE - 1, SMALL_FILE, 3 * SMALL_FILE + 12345])
def test_file_digests_are_blake3_of_the_whole_file(tmp_path, size):
    data = (os.urandom(65536) * (size // 65536 + 1))[:size]
    (tmp_path / "f").write_bytes(data)
    want = "blake3:" + blake3.blake3(data).hexdigest()
    assert HashCache(None).digest(tmp_path / "f", os.lstat(tmp_path / "f")) == want


def test_no_context_and_missing_sources(ctxdir):
    with pytest.raises(CopyError, match="no build context"):
        BuildContext(None).checksum(["x"])
    with pytest.raises(CopyError, match="not found"):
        BuildContext(ctxdir).checksum(["missing"])


def test_context_from_tar_and_bad_tar(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"FROM scratch\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    ctx = BuildContext.from_tar(buf, tmp_path)
    assert (ctx.root / "Dockerfile").read_bytes() == b"FROM scratch\n"
    ctx.close()
    assert not ctx.root.exists()
    with pytest.raises(InvalidInput, match="build context tar"):
        BuildContext.from_tar(io.BytesIO(b"\x1f\x8bgarbage"), tmp_path)
