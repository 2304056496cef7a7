"""Images built by the tests through the real CLI (import, then build with runc)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def build(wharfie, busybox_rootfs_tar, tmp_path):
    """``build(tag, dockerfile_body, files={})``: a busybox image ``base:1``, then ``tag``
    built FROM it with the given steps and context files."""
    wharfie("import", str(busybox_rootfs_tar), "base:1", "--change", 'CMD ["sh"]')

    def run(tag: str, body: str, files: dict[str, bytes] | None = None) -> str:
        ctx = tmp_path / f"ctx-{tag.replace(':', '-').replace('/', '-')}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM base:1\n" + body)
        for name, data in (files or {}).items():
            path = Path(ctx, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        wharfie("build", "-q", "-t", tag, str(ctx))
        return tag

    return run
