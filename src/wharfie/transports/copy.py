"""The one copy between any two transports: only missing blobs move, manifest bytes unchanged
(but for a registry, which gets uncompressed layers gzipped, as skopeo and ``push`` send them).

Each end is a transport module from the ``kinds`` table, so the route makes no difference:
from a registry the blobs' provenance is recorded as ``pull`` does, and into one they are
mounted from where they were seen as ``push`` does.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from wharfie.images.provenance import CompressedLayers
from wharfie.oci.digest import Digest
from wharfie.oci.image import ImageIndex
from wharfie.oci.platform import Platform, host_platform
from wharfie.transports.base import ImageDestination, Progress, copy_image, copy_index
from wharfie.transports.kinds.common import Endpoints, TransportName
from wharfie.transports.push import LayerCompression

__all__ = ["Endpoints", "copy"]


def copy(src: TransportName, dst: TransportName, env: Endpoints, *, all: bool = False,
         platform: Platform | None = None, progress: Progress | None = None,
         destination: ImageDestination | None = None) -> Digest:
    """Copy ``src`` to ``dst`` (``destination`` in place of opening ``dst``, if given).

    An index is copied whole with ``all``; otherwise the platform's image (host's by default)
    is chosen, as skopeo does.

    >>> copy(parse_name("docker://localhost:5000/app:1"), parse_name("oci:/tmp/app:1"), env)
    """
    ref = dst.kind.dest_ref(dst, src)
    kw = {"progress": progress} if progress else {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, env.scratch, ignore_errors=True)
        source = src.kind.open_source(src, env)
        if isinstance(source, ImageIndex) and not all:
            source = source.image_for(platform or host_platform())
        dest = destination or dst.kind.open_destination(dst, env)
        if getattr(dst.kind, "COMPRESSES_LAYERS", False):
            layers = stack.enter_context(_compression(env))
            source = layers.convert(source)
        if isinstance(source, ImageIndex):
            digest = copy_index(source, dest, ref, jobs=env.options.jobs, **kw)
        else:
            digest = copy_image(source, dest, ref, jobs=env.options.jobs, **kw)
        dest.commit()
        for end in (src, dst):
            end.kind.copied(end, source, env)
        return digest


@contextmanager
def _compression(env: Endpoints) -> Iterator[LayerCompression]:
    """gzip for uncompressed layers, remembered per diffID in the store (as ``push`` does)."""
    root = Path(env.images().root)
    layers = LayerCompression(CompressedLayers(root), root, "gzip")
    try:
        yield layers
    finally:
        layers.close()
