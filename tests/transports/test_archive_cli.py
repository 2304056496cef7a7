"""wharfie save / load / import through the real CLI: Docker's flags, messages and refusals."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile

import archive_samples
import pytest
from archive_samples import BAD_CASES, bad_archives

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.transports.archive import write_archive

content = pytest.fixture(archive_samples.content)
busybox_image = pytest.fixture(archive_samples.busybox_image)


def one_error_line(res) -> str:
    err = res.stderr.decode()
    assert res.returncode != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wharfie: error: "), err
    return lines[0]


def assert_untouched(root) -> None:
    """No tag, no recorded image, and every visible blob verified."""
    store = ImageStore(root)
    assert store.list(all=True) == []
    for d, _ in store.content.walk():
        assert store.content.verify(d)


def test_import_save_load_round_trip(wharfie, busybox_rootfs_tar, root, tmp_path):
    res = wharfie("import", "--change", "CMD [\"sh\"]", "-c", "ENV A=1", "-m", "my base",
                  str(busybox_rootfs_tar), "bb:1")
    image_id = res.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    store = ImageStore(root)
    img = store.resolve("bb:1")
    assert img.id == image_id
    assert img.config.config == {"Cmd": ["sh"], "Env": ["A=1"]}
    assert img.config.history[0]["comment"] == "my base"
    wharfie("tag", "bb:1", "example.com/bb:2", check=False)  # images team's command, if present
    out = tmp_path / "bb.tar"
    wharfie("save", "-o", str(out), "bb:1")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    other = tmp_path / "other-root"
    res = wharfie("load", "-i", str(out), env={"WHARFIE_ROOT": str(other)})
    assert res.stdout.decode() == "Loaded image: bb:1\n"
    loaded = ImageStore(other).resolve("bb:1")
    assert (loaded.id, loaded.manifest_digest) == (img.id, img.manifest_digest)
    assert [x.digest for x in loaded.layers()] == [x.digest for x in img.layers()]
    # stdin, quiet, and loading the same again is harmless
    res = wharfie("load", "-q", input=out.read_bytes(), env={"WHARFIE_ROOT": str(other)})
    assert res.stdout.decode() == "Loaded image: bb:1\n"


def test_save_by_id_and_repository(wharfie, busybox_rootfs_tar, root):
    wharfie("import", str(busybox_rootfs_tar), "bb:1")
    wharfie("import", "-c", "USER app", str(busybox_rootfs_tar), "bb:2")
    image_id = ImageStore(root).resolve("bb:1").id
    by_repo = wharfie("save", "bb").stdout
    with tarfile.open(fileobj=io.BytesIO(by_repo)) as tf:
        items = json.loads(tf.extractfile("manifest.json").read())
    assert sorted(t for i in items for t in i["RepoTags"]) == ["bb:1", "bb:2"]
    by_id = wharfie("save", image_id.hex[:12]).stdout
    with tarfile.open(fileobj=io.BytesIO(by_id)) as tf:
        items = json.loads(tf.extractfile("manifest.json").read())
    assert [i["RepoTags"] for i in items] == [[]]
    res = wharfie("load", input=by_id, env={"WHARFIE_ROOT": str(root) + "-2"})
    assert res.stdout.decode() == f"Loaded image ID: {image_id}\n"


def test_load_moves_an_existing_tag_like_docker(wharfie, busybox_rootfs_tar, root, tmp_path):
    wharfie("import", str(busybox_rootfs_tar), "bb:1")
    first = ImageStore(root).resolve("bb:1").id
    archive = wharfie("save", "bb:1").stdout
    wharfie("import", "-c", "USER app", str(busybox_rootfs_tar), "bb:1")
    res = wharfie("load", input=archive)
    assert res.stdout.decode().splitlines()[-1] == "Loaded image: bb:1"
    assert "renaming the old one with ID" in res.stdout.decode()
    assert ImageStore(root).resolve("bb:1").id == first


def test_save_refuses_a_terminal_and_load_an_empty_stdin(wharfie, busybox_rootfs_tar, root):
    wharfie("import", str(busybox_rootfs_tar), "bb:1")
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    for args, which in ((["save", "bb:1"], "stdout"), (["load"], "stdin")):
        primary, secondary = os.openpty()
        try:
            kw = {"stdout": primary, "stderr": subprocess.PIPE} if which == "stdout" else \
                {"stdin": primary, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
            res = subprocess.run([sys.executable, "-m", "wharfie", *args], env=env, **kw,
                                 timeout=60)
        finally:
            os.close(primary)
            os.close(secondary)
        line = one_error_line(res)
        assert ("cowardly refusing to save to a terminal" in line if which == "stdout"
                else "requested load from stdin, but stdin is empty" in line)


def test_save_unknown_image(wharfie):
    res = wharfie("save", "-o", "/dev/null", "nosuch:1", check=False)
    assert one_error_line(res) == "wharfie: error: No such image: nosuch:1"


def test_import_refuses_bad_input(wharfie, root, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tarball" * 1000)
    line = one_error_line(wharfie("import", str(junk), "x:1", check=False))
    assert "invalid root filesystem tarball" in line
    line = one_error_line(wharfie("import", str(tmp_path / "missing.tar"), check=False))
    assert "no such file or directory" in line
    line = one_error_line(wharfie("import", "-", "Bad:Name", input=b"", check=False))
    assert "must be lowercase" in line
    line = one_error_line(wharfie("import", "-c", "RUN rm -rf /", "-", input=b"", check=False))
    assert "RUN is not a valid change command" in line
    assert_untouched(root)


@pytest.mark.parametrize("case", BAD_CASES)
def test_load_refuses_bad_archives(wharfie, busybox_image, root, tmp_path, case):
    data, _, message = bad_archives(busybox_image)[case]
    path = tmp_path / "bad.tar"
    path.write_bytes(data)
    line = one_error_line(wharfie("load", "-i", str(path), check=False))
    assert message in line
    assert_untouched(root)


def test_gzipped_archive_from_stdin(wharfie, busybox_image, root):
    import gzip

    out = io.BytesIO()
    write_archive(out, [(busybox_image, [parse_reference("bb:gz")])])
    res = wharfie("load", input=gzip.compress(out.getvalue()))
    assert res.stdout.decode() == "Loaded image: bb:gz\n"
    assert ImageStore(root).resolve("bb:gz").manifest_digest == busybox_image.digest


def test_failed_save_leaves_no_file(wharfie, busybox_rootfs_tar, root, tmp_path):
    wharfie("image", "import", str(busybox_rootfs_tar), "bb:1")
    store = ImageStore(root)
    (layer,) = store.resolve("bb:1").layers()
    path = store.content.path(layer.digest)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # bit rot in the store
    path.write_bytes(bytes(blob))
    out = tmp_path / "out.tar"
    line = one_error_line(wharfie("image", "save", "-o", str(out), "bb:1", check=False))
    assert f"blob {layer.digest} is corrupt in the store" in line
    assert list(tmp_path.glob("*out.tar*")) == []


def test_load_on_a_terminal_shows_progress_then_the_names(wharfie, busybox_image, root,
                                                          tmp_path):
    path = tmp_path / "bb.tar"
    with open(path, "wb") as f:
        write_archive(f, [(busybox_image, [parse_reference("bb:tty")])])
    primary, secondary = os.openpty()
    env = {**os.environ, "WHARFIE_ROOT": str(root), "COLUMNS": "100"}
    res = subprocess.run([sys.executable, "-m", "wharfie", "load", "-i", str(path)], env=env,
                         stdout=secondary, stderr=subprocess.PIPE, timeout=60)
    os.close(secondary)
    out = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(primary, 65536):
            out += chunk
    os.close(primary)
    assert res.returncode == 0, res.stderr
    text = out.decode(errors="replace")
    assert "Loading layers" in text and text.rstrip().endswith("Loaded image: bb:tty")
