"""The busybox image every container test runs, and reading a command's output."""

from __future__ import annotations

import pytest


@pytest.fixture
def bb(wharfie, busybox_rootfs_tar):
    wharfie("import", "-c", 'CMD ["sh"]', str(busybox_rootfs_tar), "bb:1")
    return "bb:1"


def out(res) -> str:
    return res.stdout.decode()
