"""wharfie import's library half: a rootfs tarball becomes a one-layer gzip image."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import archive_samples
import pytest
from isal import igzip

from wharfie.errors import InvalidInput
from wharfie.layers.apply import apply_layer
from wharfie.layers.compression import open_layer
from wharfie.oci import mediatypes as mt
from wharfie.oci.platform import host_platform
from wharfie.transports.importer import import_rootfs

content = pytest.fixture(archive_samples.content)
busybox_image = pytest.fixture(archive_samples.busybox_image)


def test_import_hashes_and_compresses_in_one_pass(busybox_rootfs_tar, content):
    raw = busybox_rootfs_tar.read_bytes()
    with open(busybox_rootfs_tar, "rb") as f:
        image = import_rootfs(f, content)
    (layer,) = image.layers()
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert layer.media_type == mt.OCI_LAYER_GZIP
    blob = content.read(layer.digest)
    assert layer.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert layer.size == len(blob) < len(raw)
    assert igzip.decompress(blob) == raw
    config = image.config.doc
    assert config["os"] == host_platform().os
    assert config["architecture"] == host_platform().architecture
    assert config["history"] == [{"created": config["created"], "comment": "Imported from -"}]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert content.read(image.digest) == image.manifest_bytes()[0]


def test_compressed_input_gives_the_same_layer(busybox_rootfs_tar, content, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    raw = busybox_rootfs_tar.read_bytes()
    plain = import_rootfs(io.BytesIO(raw), content, message="base")
    gz = import_rootfs(io.BytesIO(igzip.compress(raw)), content, message="base")
    assert plain.digest == gz.digest  # deterministic: same bytes, same epoch, same image
    assert plain.config.doc["created"] == "2023-11-14T22:13:20Z"
    assert plain.config.doc["history"][0]["comment"] == "base"


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"this is not a tar file at all" * 40, "invalid root filesystem tarball"),
    (b"", "invalid root filesystem tarball"),
    (_tar({"etc/ok": b"1", "../escape": b"2"}), "escapes the root"),
    (_tar({"big": b"x" * 100000})[:5000], "invalid root filesystem tarball"),
])
def test_bad_rootfs_leaves_nothing(content, data, message):
    with pytest.raises(InvalidInput, match=message):
        import_rootfs(io.BytesIO(data), content)
    assert list(content.walk()) == []
    assert list(content.ingest_dir.iterdir()) == []


def test_config_is_canonical_json(busybox_rootfs_tar, content):
    with open(busybox_rootfs_tar, "rb") as f:
        image = import_rootfs(f, content, config={"Labels": {"a": "b"}})
    raw = image.config.raw
    assert json.loads(raw)["config"] == {"Labels": {"a": "b"}}
    assert raw == json.dumps(json.loads(raw), separators=(",", ":"), sort_keys=True).encode()


def _entry(tf: tarfile.TarFile, name: str, data: bytes | None = None, *, link: str = "",
           kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    if data is not None:
        info.size = len(data)
    tf.addfile(info, io.BytesIO(data) if data is not None else None)


def test_absolute_names_are_made_relative_so_the_image_unpacks(content, tmp_path):
    """``tar -P`` keeps the leading ``/``: Docker drops it when it unpacks, and so does
    import (name, hardlink target, and the PAX ``path`` of a long name), so the layer is
    one the applier accepts. Symlink targets stay as they are."""
    deep = "/opt/" + "d" * 120 + "/file"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _entry(tf, "/etc", kind=tarfile.DIRTYPE)
        _entry(tf, "/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _entry(tf, "/etc/passwd-", link="/etc/passwd", kind=tarfile.LNKTYPE)
        _entry(tf, "/etc/link", link="/etc/passwd", kind=tarfile.SYMTYPE)
        _entry(tf, deep, b"deep\n")
    image = import_rootfs(io.BytesIO(buf.getvalue()), content)
    (layer,) = image.layers()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with open_layer(layer) as stream:
        assert apply_layer(stream, rootfs) == layer.diff_id == image.config.diff_ids[0]
    assert (rootfs / "etc/passwd").read_bytes() == b"root:x:0:0:root:/root:/bin/sh\n"
    assert (rootfs / "etc/passwd-").stat().st_ino == (rootfs / "etc/passwd").stat().st_ino
    assert os.readlink(rootfs / "etc/link") == "/etc/passwd"
    assert (rootfs / deep.lstrip("/")).read_bytes() == b"deep\n"
    assert list(content.ingest_dir.iterdir()) == []
    assert {str(d) for d, _ in content.walk()} == {image.digest, layer.digest,
                                                   image.manifest.config.digest}


def test_hardlink_escaping_the_root_is_refused(content):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        _entry(tf, "etc/shadow", link="../../etc/shadow", kind=tarfile.LNKTYPE)
    with pytest.raises(InvalidInput, match="escapes the root"):
        import_rootfs(io.BytesIO(buf.getvalue()), content)
    assert list(content.walk()) == [] and list(content.ingest_dir.iterdir()) == []
