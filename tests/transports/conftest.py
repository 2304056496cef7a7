"""Fixtures for the archive and layout transports: a busybox image in a bare content store."""

from __future__ import annotations

import pytest

from wharfie.content.store import ContentStore
from wharfie.oci.image import Image
from wharfie.transports.rootfs import import_rootfs


@pytest.fixture
def content(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "content").ensure()


@pytest.fixture
def busybox_image(busybox_rootfs_tar, content) -> Image:
    """The busybox rootfs imported as a one-layer image, as ``wharfie import`` makes it."""
    with open(busybox_rootfs_tar, "rb") as f:
        return import_rootfs(f, content, changes=['CMD ["sh"]'])
