"""Tars from the user never write outside their destination (issue 11, K1 and K2).

Every tar a build unpacks (an ADD archive, a context tar on stdin) goes through wharfie's
own applier, which resolves names and links, hard or symbolic, inside the destination.
``tarfile``'s filters did not: a hardlink to a host path, or a symlink chain longer than
PATH_MAX (CVE-2025-4517), let an entry overwrite a host file as root.
"""

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile

import pytest
import zstandard
from tests.builder.test_builder import build, files_of

from wharfie.errors import WharfieError
from wharfie.images.imagestore import ImageStore

PATH_MAX = 4096


@pytest.fixture
def store(root):
    return ImageStore(root)


@pytest.fixture
def victim(tmp_path):
    """A host file owned by root, mode 600: what an escaping entry would read or write."""
    path = tmp_path / "host" / "victim"
    path.parent.mkdir()
    path.write_bytes(b"host secret\n")
    os.chmod(path, 0o600)
    os.chown(path, 0, 0)
    return path


def snapshot(path):
    st = os.lstat(path)
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink


def entry(name, kind=tarfile.REGTYPE, data=b"", *, link="", mode=0o644, owner=(0, 0)):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    info.uid, info.gid = owner
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_700_000_000
    return info, data


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def add_tar(store, tmp_path, data, name="evil.tar", dockerfile=None):
    """Build ``FROM scratch`` + ``ADD <name> /`` with ``data`` as that tar in the context."""
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / name).write_bytes(data)
    image, _ = build(store, dockerfile or f"FROM scratch\nADD {name} /\n", ctx)
    return image


def add_tar_refused(store, tmp_path, data):
    """(image, "") if a build that ADDs ``data`` succeeds, else (None, its error): checked
    after the host file, so a test on unsafe code fails on what the host lost."""
    try:
        return add_tar(store, tmp_path, data), ""
    except WharfieError as e:
        return None, str(e)


def realpath_overflow_tar(dest_len, victim, payload):
    """CVE-2025-4517's shape (after CPython's test_realpath_limit_attack): directories with
    long names reached through one-letter links, so that the last link's expansion is
    longer than PATH_MAX and ``os.path.realpath`` stops resolving it; ``escape`` then
    looks inside to tarfile's filters but leads to ``/``, and a hardlink through it to
    ``victim`` is overwritten. ``dest_len`` is roughly the length of the directory the tar
    is unpacked into (a few dozen characters either way still work)."""
    steps = "abcdefghijklmnop"
    component = "d" * ((PATH_MAX - 128 - dest_len) // len(steps) - 1)
    entries, path = [], ""
    for step in steps:
        entries.append(entry(f"{path}{component}", tarfile.DIRTYPE, mode=0o777))
        entries.append(entry(f"{path}{step}", tarfile.SYMTYPE, link=component))
        path += component + "/"
    linkpath = "/".join(steps) + "/" + "l" * 254
    entries.append(entry(linkpath, tarfile.SYMTYPE, link="/".join([".."] * len(steps))))
    entries.append(entry("escape", tarfile.SYMTYPE, link=linkpath + "/.." * len(steps)))
    entries.append(entry("flaglink", tarfile.LNKTYPE, link="escape" + str(victim)))
    entries.append(entry("flaglink", data=payload, mode=0o777, owner=(1234, 1234)))
    return tar_bytes(entries)


def test_add_hardlink_to_a_host_path_then_a_file_of_its_name_leaves_the_host_file(
        store, tmp_path, victim):
    before = snapshot(victim)
    evil = tar_bytes([entry("hl", tarfile.LNKTYPE, link=str(victim)),
                      entry("hl", data=b"pwned\n", mode=0o4777, owner=(1234, 5678))])
    _, error = add_tar_refused(store, tmp_path, evil)
    assert snapshot(victim) == before
    assert "cannot unpack: tar entry 'hl' refused: it is a hardlink to" in error


def test_add_hardlink_alone_does_not_copy_a_host_file_into_the_image(store, tmp_path, victim):
    evil = tar_bytes([entry("stolen", tarfile.LNKTYPE, link=str(victim))])
    image, error = add_tar_refused(store, tmp_path, evil)
    if image is not None:
        assert all(data != b"host secret\n" for data, _ in files_of(image).values())
    assert "'stolen' refused: it is a hardlink to" in error
    assert snapshot(victim)[4] == 1  # no link to it is left anywhere


def test_add_dotdot_in_a_hardlink_target_or_a_name_cannot_climb_out(store, tmp_path, victim):
    before = snapshot(victim)
    climbing = tar_bytes([entry("hl", tarfile.LNKTYPE, link="../" * 40 + str(victim)[1:]),
                          entry("hl", data=b"pwned\n")])
    _, error = add_tar_refused(store, tmp_path, climbing)
    assert snapshot(victim) == before
    assert "'hl' refused: hardlink target climbs above the root" in error
    up = tar_bytes([entry("../up.txt", data=b"up\n")])
    with pytest.raises(WharfieError, match="'../up.txt' refused: path climbs above the root"):
        add_tar(store, tmp_path, up)
    assert not (tmp_path / "up.txt").exists()


def test_add_absolute_and_dotdot_names_land_inside_where_docker_puts_them(
        store, tmp_path, victim):
    before = snapshot(victim)
    names = tar_bytes([entry(str(victim), data=b"absolute\n"),  # /tmp/.../host/victim
                       entry("a/../folded.txt", data=b"folded\n"),
                       entry("/../../rooted.txt", data=b"rooted\n")])  # docker: /rooted.txt
    image = add_tar(store, tmp_path, names, dockerfile="FROM scratch\nADD evil.tar /opt/\n")
    assert snapshot(victim) == before
    files = files_of(image)
    assert files["opt" + str(victim)][0] == b"absolute\n"
    assert files["opt/folded.txt"][0] == b"folded\n"
    assert files["opt/rooted.txt"][0] == b"rooted\n" and not (tmp_path / "rooted.txt").exists()


def test_add_symlink_chain_longer_than_path_max_cannot_reach_the_host(
        store, root, tmp_path, victim):
    before = snapshot(victim)
    # unpacked in <root>/snapshots/<driver>/active/build-<16 hex>/tmpXXXXXXXX
    evil = realpath_overflow_tar(len(str(root)) + 60, victim, b"overwritten\n")
    _, error = add_tar_refused(store, tmp_path, evil)
    assert snapshot(victim) == before
    assert "'flaglink' refused" in error  # '..' stays at the root: the target is not there


def test_stdin_context_symlink_chain_longer_than_path_max_cannot_reach_the_host(
        wharfie, root, victim):
    before = snapshot(victim)
    # unpacked in <root>/build/tmp/context-XXXXXXXX
    evil = realpath_overflow_tar(len(str(root)) + 27, victim, b"overwritten\n")
    res = wharfie("build", "-t", "x", "-", input=evil, check=False)
    assert snapshot(victim) == before
    assert res.returncode != 0 and b"Traceback" not in res.stderr
    assert res.stderr.decode().startswith("wharfie: error: cannot read the build context tar: "
                                          "tar entry 'flaglink' refused")


COMPRESSORS = {"tar": bytes, "tar.gz": gzip.compress, "tar.bz2": bz2.compress,
               "tar.xz": lzma.compress, "tar.zst": zstandard.ZstdCompressor().compress}


@pytest.mark.parametrize("suffix", COMPRESSORS)
def test_add_benign_archive_merges_into_an_existing_dir_keeping_owners_modes_and_links(
        store, tmp_path, suffix):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "existing.txt").write_text("was there\n")
    bundle = tar_bytes([entry("bin", tarfile.DIRTYPE, mode=0o755),
                        entry("bin/tool", data=b"#!/bin/sh\n", mode=0o755, owner=(7, 8)),
                        entry("etc/conf", data=b"secret=1\n", mode=0o640, owner=(7, 8)),
                        entry("bin/tool-hardlink", tarfile.LNKTYPE, link="bin/tool",
                              mode=0o755, owner=(7, 8)),  # as tar writes it: the file's own
                        entry("current", tarfile.SYMTYPE, link="bin/tool")])
    df = (f"FROM scratch\nCOPY existing.txt /opt/app/\nADD bundle.{suffix} /opt/app/\n")
    image = add_tar(store, tmp_path, COMPRESSORS[suffix](bundle), f"bundle.{suffix}", df)
    files = files_of(image)
    assert files["opt/app/existing.txt"][0] == b"was there\n"
    data, tool = files["opt/app/bin/tool"]
    assert data == b"#!/bin/sh\n" and (tool.mode, tool.uid, tool.gid) == (0o755, 7, 8)
    data, conf = files["opt/app/etc/conf"]
    assert data == b"secret=1\n" and (conf.mode, conf.uid, conf.gid) == (0o640, 7, 8)
    hard = files["opt/app/bin/tool-hardlink"]
    assert hard[0] == b"#!/bin/sh\n" or hard[1].linkname == "opt/app/bin/tool"
    assert files["opt/app/current"][1].issym()
    assert files["opt/app/current"][1].linkname == "bin/tool"
