"""Which repositories hold a blob, learned from pulls and pushes (Docker's "v2 metadata").

``push`` asks it for candidates to mount from, so a layer that came from
``host/base`` is linked into ``host/app`` by the registry instead of uploaded again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from wharfie.fs.atomic import atomic_write
from wharfie.oci.digest import Digest


class BlobProvenance:
    """One small file per blob under ``ROOT/distribution/``: lines of ``host/repo``."""

    def __init__(self, root: Path | str) -> None:
        self.dir = Path(root) / "distribution"

    def _path(self, digest: Digest) -> Path:
        return self.dir / f"{digest.algorithm}-{digest.hex}"

    def add(self, host: str, repo: str, digests: Iterable[Digest]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = f"{host}/{repo}\n"
        for d in digests:
            path = self._path(d)
            try:
                if line in path.read_text().splitlines(keepends=True):
                    continue
            except FileNotFoundError:
                pass
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def repos(self, host: str, digest: Digest) -> list[str]:
        """Repositories of ``host`` known to hold ``digest``, most recent first."""
        try:
            lines = self._path(digest).read_text().splitlines()
        except FileNotFoundError:
            return []
        prefix = host + "/"
        return [x[len(prefix):] for x in reversed(lines) if x.startswith(prefix)]


class CompressedLayers:
    """diffID -> the compressed blob a push made of an uncompressed layer, per format
    (docker's diffID -> digest "v2 metadata"), so a later push names the same digest
    (the registry's HEAD then says it has it) and mounts it, instead of compressing again.
    One small file per diffID and format under ``ROOT/distribution/compressed/``."""

    def __init__(self, root: Path | str) -> None:
        self.dir = Path(root) / "distribution" / "compressed"

    def _path(self, diff_id: Digest, fmt: str) -> Path:
        return self.dir / f"{fmt}-{diff_id.algorithm}-{diff_id.hex}"

    def get(self, diff_id: Digest, fmt: str) -> tuple[Digest, int] | None:
        """(digest, size) of ``diff_id`` compressed with ``fmt``, if a push made it."""
        try:
            digest, size = self._path(diff_id, fmt).read_text().split()
            return Digest(digest), int(size)
        except (FileNotFoundError, ValueError):
            return None

    def add(self, diff_id: Digest, fmt: str, digest: Digest, size: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(diff_id, fmt), f"{digest} {size}\n".encode())
