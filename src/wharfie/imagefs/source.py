"""What to walk: an image in the local store, in a registry or in an archive, by name.

A registry image is read lazily (``RegistryImage``): the walker streams each layer blob
from the registry and nothing is written to disk. An archive (``docker-archive:``,
``oci-archive:``) is unpacked into a scratch directory first, as every archive source is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.imagefs.walker import LayerView, walk
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.platform import Platform, host_platform

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions

TRANSPORT_PREFIXES = ("docker://", "oci:", "oci-archive:", "docker-archive:", "wharfie:")


@dataclass(frozen=True)
class ImageSource:
    """An image to walk and the name it was asked for by."""

    image: Image
    name: str

    def walk(self, *, want: Callable[[str], bool] | None = None) -> Iterator[LayerView]:
        return walk(self.image, want=want)


@contextmanager
def open_source(name: str, images: ImageStore, *, options: RegistryOptions | None = None,
                platform: Platform | None = None) -> Iterator[ImageSource]:
    """``name`` as a transport name (``docker://REF``, ``docker-archive:FILE``...) or else
    an image of the local store; an index gives its image for ``platform`` (the host's).
    An archive's scratch copy is removed when the ``with`` block ends."""
    if not name.startswith(TRANSPORT_PREFIXES):
        yield ImageSource(_one_image(images.open_target(name), platform), name)
        return
    (images.root / "tmp").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="imagefs-", dir=images.root / "tmp"))
    try:
        yield ImageSource(_one_image(_open_transport(name, images, options, scratch),
                                     platform), name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _open_transport(name: str, images: ImageStore, options: RegistryOptions | None,
                    scratch: Path) -> Image | ImageIndex:
    from wharfie.transports.kinds.common import Endpoints
    from wharfie.transports.names import parse_name
    from wharfie.transports.registry.client import RegistryOptions

    parsed = parse_name(name)
    env = Endpoints(images=lambda: images, options=options or RegistryOptions(),
                    scratch=scratch)
    return parsed.kind.open_source(parsed, env)


def _one_image(target: Image | ImageIndex, platform: Platform | None) -> Image:
    while isinstance(target, ImageIndex):
        target = target.image_for(platform or host_platform())
    return target
