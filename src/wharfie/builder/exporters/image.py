"""``type=image``: the image store, where every build writes anyway."""

from __future__ import annotations

from pathlib import Path

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import Reference


def export(dest: str | None, root: Path, store: ImageStore, manifest_digest: str,
           tags: list[Reference]) -> None:
    """Nothing more to do: the build stored and tagged the image."""
