"""The OCI image layout directory as a source and a destination."""

from __future__ import annotations

import io
import json
import tarfile

import archive_samples
import pytest

from wharfie.content.blobstore import ContentStore
from wharfie.errors import InvalidInput, NotFound
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import ImageIndex
from wharfie.oci.manifest import Descriptor, Index
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import parse_reference
from wharfie.transports.archive import ContentBlobs, read_archive
from wharfie.transports.base import copy_image, copy_index
from wharfie.transports.layout import LayoutDestination, OCILayout, StoredIndex

content = pytest.fixture(archive_samples.content)
busybox_image = pytest.fixture(archive_samples.busybox_image)


def test_copy_into_a_layout_and_find_by_name(busybox_image, tmp_path):
    root = tmp_path / "layout"
    with LayoutDestination(root) as dst:
        d1 = copy_image(busybox_image, dst, parse_reference("busybox:1"))
        d2 = copy_image(busybox_image, dst, parse_reference("example.com/bb:2"))
        copy_image(busybox_image, dst, parse_reference("busybox:1"))  # re-tag: no duplicate
    assert d1 == d2 == busybox_image.digest
    assert sorted(p.name for p in root.iterdir()) == ["blobs", "index.json", "oci-layout"]
    index = json.loads((root / "index.json").read_bytes())
    names = [e["annotations"] for e in index["manifests"]]
    assert names == [
        {"io.containerd.image.name": "docker.io/library/busybox:1",
         "org.opencontainers.image.ref.name": "1"},
        {"io.containerd.image.name": "example.com/bb:2",
         "org.opencontainers.image.ref.name": "2"}]
    assert index["manifests"][0]["platform"] == host_platform().to_dict()
    layout = OCILayout(root)
    for name in ("1", "busybox:1", "docker.io/library/busybox:1", "example.com/bb:2", "2"):
        assert layout.image(name).digest == busybox_image.digest
    image = layout.image("1")
    assert image.id == busybox_image.id
    (layer,) = image.layers()
    assert layer.open().read() == busybox_image.layers()[0].open().read()
    with pytest.raises(InvalidInput, match="holds 2 images: name one"):
        layout.image()
    with pytest.raises(NotFound, match="no image named 'nope'"):
        layout.image("nope")


def test_not_a_layout(tmp_path):
    with pytest.raises(NotFound, match="not an OCI image layout"):
        OCILayout(tmp_path).index()
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(InvalidInput, match="unsupported OCI layout version"):
        OCILayout(tmp_path).index()


def test_missing_blob_is_reported(busybox_image, tmp_path):
    root = tmp_path / "layout"
    with LayoutDestination(root) as dst:
        copy_image(busybox_image, dst, parse_reference("bb:1"))
    (root / "blobs" / "sha256" / busybox_image.id.hex).unlink()
    with pytest.raises(NotFound, match=f"blob {busybox_image.id} is missing"):
        OCILayout(root).image("1").config  # noqa: B018 - reading it is the point


def multi_platform(image, content: ContentStore):
    """An index naming ``image`` for the host and a foreign platform (same blobs)."""
    raw, media_type = image.manifest_bytes()
    desc = Descriptor(media_type, image.digest, len(raw))
    foreign = Platform("linux", "s390x")
    index = Index.build([
        Descriptor(desc.media_type, desc.digest, desc.size, platform=foreign),
        Descriptor(desc.media_type, desc.digest, desc.size, platform=host_platform())])
    content.put(index.raw)
    return StoredIndex(Descriptor(mt.OCI_INDEX, index.digest, len(index.raw)),
                       ContentBlobs(content))


def test_index_in_layout_and_in_oci_archive(busybox_image, content, tmp_path):
    idx = multi_platform(busybox_image, content)
    root = tmp_path / "layout"
    with LayoutDestination(root) as dst:
        copy_index(idx, dst, parse_reference("multi:1"))
    assert [e.digest for e in OCILayout(root).index().manifests] == [idx.digest]
    found = OCILayout(root).get("1")
    assert isinstance(found, ImageIndex) and found.digest == idx.digest
    assert OCILayout(root).image("1", host_platform()).digest == busybox_image.digest
    # the same layout as an oci-archive: loads the host's image under the index's name
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(root, arcname=".")
    other = ContentStore(tmp_path / "other")
    (loaded,) = read_archive(io.BytesIO(buf.getvalue()), other)
    assert loaded.image.digest == busybox_image.digest
    assert [t.familiar() for t in loaded.tags] == ["multi:1"]


def test_oci_archive_index_with_only_the_host_image(busybox_image, tmp_path):
    """A sparse index (other platforms not copied, as skopeo does without --all) loads."""
    root = tmp_path / "layout"
    dst = LayoutDestination(root)
    copy_image(busybox_image, dst)
    raw, media_type = busybox_image.manifest_bytes()
    absent = Descriptor(media_type, Digest.of(b"not here"), 8, platform=Platform("linux", "s390x"))
    host = Descriptor(media_type, busybox_image.digest, len(raw), platform=host_platform())
    index = Index.build([absent, host])
    dst.put_manifest(index.raw, mt.OCI_INDEX, parse_reference("sparse:1"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(root, arcname=".")
    (loaded,) = read_archive(io.BytesIO(buf.getvalue()), ContentStore(tmp_path / "other"))
    assert loaded.image.digest == busybox_image.digest
    assert [t.familiar() for t in loaded.tags] == ["sparse:1"]
    with pytest.raises(NotFound, match="names blob sha256:.* which is not in the archive"):
        read_archive(io.BytesIO(buf.getvalue()), ContentStore(tmp_path / "other"),
                     platform=Platform("linux", "s390x"))
    with pytest.raises(NotFound, match="has no image for linux/riscv64"):
        read_archive(io.BytesIO(buf.getvalue()), ContentStore(tmp_path / "other"),
                     platform=Platform("linux", "riscv64"))
