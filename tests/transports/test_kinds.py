"""The transports table: every kind has one shape, names round-trip, and an archive is an
ImageDestination like any other (written at commit, nothing on failure)."""

from __future__ import annotations

import pytest

from wharfie.content.blobstore import ContentStore
from wharfie.errors import WharfieError
from wharfie.oci import mediatypes as mt
from wharfie.oci.image import ImageIndex
from wharfie.oci.manifest import Descriptor, Index
from wharfie.oci.platform import Platform
from wharfie.oci.reference import parse_reference
from wharfie.testing import random
from wharfie.transports.archive import ArchiveDestination, read_archive
from wharfie.transports.base import copy_image, copy_index
from wharfie.transports.kinds import KINDS
from wharfie.transports.names import parse_name

SHAPE = ("NAME", "USAGE", "parse", "format", "reference", "dest_ref", "open_source",
         "open_destination", "copied")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_transport_module_has_the_same_shape(kind):
    assert kind == KINDS[kind].NAME
    assert [a for a in SHAPE if not hasattr(KINDS[kind], a)] == []


@pytest.mark.parametrize("text", ["docker://127.0.0.1:5000/app:1", "oci:/tmp/l:v1", "oci:/tmp/l",
                                  "oci-archive:/tmp/a.tar:v1", "docker-archive:/tmp/x.tar:app:1",
                                  "wharfie:app:1"])
def test_names_round_trip(text):
    assert str(parse_name(text)) == text


def test_archive_destination_writes_at_commit(tmp_path):
    image = random.image(files=[{"etc/a": b"a"}], compression="gzip")
    out = tmp_path / "out.tar"
    dest = ArchiveDestination(out, "docker-archive", tmp_path / "scratch")
    copy_image(image, dest, parse_reference("app:1"))
    assert not out.exists()  # a tar names its images first: nothing before the commit
    dest.commit()
    with open(out, "rb") as f:
        [found] = read_archive(f, ContentStore(tmp_path / "read").ensure())
    assert found.image.digest == image.digest and found.tags == [parse_reference("app:1")]


def test_archive_destination_refuses_an_index_and_writes_nothing(tmp_path):
    amd = random.image(files=[{"a": b"amd"}], platform="linux/amd64")
    arm = random.image(files=[{"a": b"arm"}], platform="linux/arm64")
    index = Index.build([Descriptor(mt.OCI_MANIFEST, i.digest, len(i.manifest.raw),
                                    platform=Platform("linux", arch))
                         for i, arch in ((amd, "amd64"), (arm, "arm64"))])

    class Both(ImageIndex):
        def index_bytes(self):
            return index.raw, mt.OCI_INDEX

        def child(self, desc):
            return amd if desc.digest == amd.digest else arm

        def open_blob(self, desc):
            raise AssertionError("an index's own blobs are not read")

    out = tmp_path / "out.tar"
    with pytest.raises(WharfieError, match="holds single images"):
        copy_index(Both(), ArchiveDestination(out, "oci-archive", tmp_path / "s"))
    assert not out.exists()
