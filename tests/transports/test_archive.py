"""docker-archive / oci-archive: write one tar that is both, read every flavour, refuse bad ones."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
from pathlib import Path

import archive_samples
import pytest
import zstandard
from archive_samples import BAD_CASES, bad_archives, make_tar, old_docker_save, saved, sha

from wharfie.content.blobstore import ContentStore
from wharfie.errors import DigestMismatch, WharfieError
from wharfie.oci import mediatypes as mt
from wharfie.transports.archive import read_archive
from wharfie.transports.layout import OCILayout

content = pytest.fixture(archive_samples.content)
busybox_image = pytest.fixture(archive_samples.busybox_image)


@pytest.fixture
def other(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "other").ensure()


def visible_blobs(store: ContentStore) -> set[str]:
    return {str(d) for d, _ in store.walk()}


# -- writing ---------------------------------------------------------------------------------

def test_round_trip_keeps_digests_and_tags(busybox_image, other):
    data = saved(busybox_image, "busybox:latest", "example.com/tools/bb:1")
    (found,) = read_archive(io.BytesIO(data), other)
    assert found.image.digest == busybox_image.digest
    assert found.image.id == busybox_image.id
    assert [str(t) for t in found.tags] == ["docker.io/library/busybox:latest",
                                           "example.com/tools/bb:1"]
    assert [(x.digest, x.diff_id) for x in found.image.layers()] == \
        [(x.digest, x.diff_id) for x in busybox_image.layers()]
    for d, _ in other.walk():
        assert other.verify(d)


def test_saved_tar_is_docker_archive_and_oci_layout(busybox_image, tmp_path):
    data = saved(busybox_image, "busybox:latest")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        tf.extractall(tmp_path / "x", filter="data")
    assert names[:4] == ["oci-layout", "index.json", "manifest.json", "repositories"]
    root = tmp_path / "x"
    (item,) = json.loads((root / "manifest.json").read_bytes())
    assert item["RepoTags"] == ["busybox:latest"]
    assert item["Config"] == f"blobs/sha256/{busybox_image.id.hex}"
    assert item["Layers"] == [f"blobs/sha256/{x.digest.hex}" for x in busybox_image.layers()]
    assert json.loads((root / "repositories").read_bytes()) == {
        "busybox": {"latest": busybox_image.id.hex}}
    layout = OCILayout(root)
    assert layout.image("latest").digest == busybox_image.digest
    assert layout.image("busybox:latest").digest == busybox_image.digest
    assert layout.image().digest == busybox_image.digest
    entry = layout.find("latest")
    assert entry.platform is not None and entry.platform.os == "linux"
    assert len(data) % 10240 == 0  # padded to whole records as tar(1) writes


def test_untagged_image_is_listed_without_names(busybox_image, other):
    data = saved(busybox_image)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        index = json.loads(tf.extractfile("index.json").read())
    assert [e.get("annotations") for e in index["manifests"]] == [None]
    (found,) = read_archive(io.BytesIO(data), other)
    assert found.tags == [] and found.image.digest == busybox_image.digest


def test_save_refuses_a_corrupt_blob(busybox_image, content):
    (layer,) = busybox_image.layers()
    path = content.path(layer.digest)
    blob = bytearray(path.read_bytes())
    blob[100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DigestMismatch, match="corrupt"):
        saved(busybox_image, "busybox:latest")


# -- reading other writers' archives -----------------------------------------------------------

def test_old_docker_save_layout(busybox_rootfs_tar, other):
    extra = make_tar([("etc/motd", b"hello\n")])
    data, config = old_docker_save([busybox_rootfs_tar.read_bytes(), extra], ["bb:old"])
    (found,) = read_archive(io.BytesIO(data), other)
    assert found.image.id == f"sha256:{sha(config)}"
    assert [str(t) for t in found.tags] == ["docker.io/library/bb:old"]
    layers = found.image.layers()
    assert [x.digest for x in layers] == [x.diff_id for x in layers]
    assert [x.media_type for x in layers] == [mt.DOCKER_LAYER] * 2
    assert found.image.manifest.media_type == mt.DOCKER_MANIFEST
    assert other.read(layers[1].digest) == extra


def test_shared_layer_as_symlink_and_two_images(other):
    base = make_tar([("a", b"base")])
    top = make_tar([("b", b"top")])
    cfg1 = json.dumps({"os": "linux", "architecture": "amd64",
                       "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(base)}"]}}).encode()
    cfg2 = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {
        "type": "layers", "diff_ids": [f"sha256:{sha(base)}", f"sha256:{sha(top)}"]}}).encode()
    manifest = [{"Config": f"{sha(cfg1)}.json", "RepoTags": ["one:1"], "Layers": ["l1/layer.tar"]},
                {"Config": f"{sha(cfg2)}.json", "RepoTags": ["two:2"],
                 "Layers": ["l2/layer.tar", "l3/layer.tar"]}]
    data = make_tar([("manifest.json", json.dumps(manifest).encode()),
                     (f"{sha(cfg1)}.json", cfg1), (f"{sha(cfg2)}.json", cfg2),
                     ("l1/layer.tar", base), ("l2/layer.tar", "../l1/layer.tar"),
                     ("l3/layer.tar", top)])
    one, two = read_archive(io.BytesIO(data), other)
    assert one.image.layers()[0].digest == two.image.layers()[0].digest == f"sha256:{sha(base)}"
    assert [t.familiar() for t in two.tags] == ["two:2"]


def test_compressed_layers_and_compressed_archive(busybox_rootfs_tar, other):
    """go-containerregistry style: gzip layer files named freely, the whole tar gzipped too."""
    raw = busybox_rootfs_tar.read_bytes()
    layer = gzip.compress(raw, mtime=0)
    cfg = json.dumps({"os": "linux", "architecture": "amd64",
                      "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(raw)}"]}}).encode()
    manifest = [{"Config": "sha256:cfg", "RepoTags": ["crane:x"], "Layers": ["one.tar.gz"]}]
    data = make_tar([("sha256:cfg", cfg), ("one.tar.gz", layer),
                     ("manifest.json", json.dumps(manifest).encode())])
    (found,) = read_archive(io.BytesIO(gzip.compress(data)), other)
    (x,) = found.image.layers()
    assert x.digest == f"sha256:{sha(layer)}" and x.diff_id == f"sha256:{sha(raw)}"
    assert x.media_type == mt.DOCKER_LAYER_GZIP


def test_oci_archive_with_only_tag_names(busybox_image, other, tmp_path):
    data = saved(busybox_image, "busybox:latest")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        kept = [(m, tf.extractfile(m).read() if m.isreg() else None) for m in tf
                if m.name not in ("manifest.json", "repositories")]
    index = json.loads(dict((m.name, d) for m, d in kept)["index.json"])
    for e in index["manifests"]:
        del e["annotations"]["io.containerd.image.name"]  # as skopeo writes: ref.name only
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for m, d in kept:
            if m.name == "index.json":
                d = json.dumps(index).encode()
                m.size = len(d)
            tf.addfile(m, io.BytesIO(d) if d is not None else None)
    (found,) = read_archive(io.BytesIO(out.getvalue()), other)
    assert found.image.digest == busybox_image.digest
    assert found.tags == []  # a bare tag names no repository: loaded by ID, as Docker does


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_archives_are_refused(busybox_image, other, case):
    data, error, message = bad_archives(busybox_image)[case]
    with pytest.raises(error, match=message) as info:
        read_archive(io.BytesIO(data), other)
    assert isinstance(info.value, WharfieError)
    for d, _ in other.walk():  # whatever stayed was verified
        assert other.verify(d)
    assert list(other.ingest_dir.iterdir()) == []


def test_read_is_streaming_from_a_pipe(busybox_image, other):
    """A non-seekable stream (stdin) is enough: the tar is read once, front to back."""
    data = saved(busybox_image, "busybox:latest")

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._src = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self._src.read(min(len(b), 4096))
            b[:len(chunk)] = chunk
            return len(chunk)

    (found,) = read_archive(Pipe(), other)
    assert found.image.digest == busybox_image.digest


def test_archive_path_helper_is_exact(tmp_path: Path):
    """The hand-made legacy archive of these tests is what tar(1) sees (guards the helper)."""
    data, _ = old_docker_save([make_tar([("x", b"1")])], ["a:b"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert "manifest.json" in tf.getnames()


@pytest.mark.parametrize("compress", [
    lambda b: zstandard.ZstdCompressor().compress(b), lzma.compress, bz2.compress,
], ids=["zstd", "xz", "bzip2"])
def test_other_compressions_of_the_whole_archive(busybox_image, other, compress):
    (found,) = read_archive(io.BytesIO(compress(saved(busybox_image, "bb:z"))), other)
    assert found.image.digest == busybox_image.digest
