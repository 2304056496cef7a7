"""Fixtures the build engine's tests share."""

from __future__ import annotations

import pytest

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.transports.importer import import_rootfs


@pytest.fixture
def store(root, busybox_rootfs_tar) -> ImageStore:
    """A fresh store holding ``busybox:local`` (CMD sh), for builds in-process."""
    s = ImageStore(root)
    with open(busybox_rootfs_tar, "rb") as f:
        image = import_rootfs(f, s.content, config={"Cmd": ["sh"]})
    s.tag(parse_reference("busybox:local"), s.put_image(image))
    return s
