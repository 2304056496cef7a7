"""Software bill of materials: the packages an image holds, each traced to the layer and
the Dockerfile step that added it.

>>> sbom = generate(client.image("debian:12"))                 # doctest: +SKIP
>>> [(f.package.name, f.added.created_by) for f in sbom.packages][:1]   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.errors import InvalidInput
from wharfie.lazy import on_first_use

if TYPE_CHECKING:
    from wharfie.oci.image import Image
    from wharfie.security.sbom.model import Sbom

SCOPES = ("squashed", "all-layers")

# the model's classes load on first use: a push, which only asks whether the image has an
# SBOM attached (``attest``), needs none of them
_MODEL = ("Distro", "Found", "LayerRef", "Package", "Sbom")

__all__ = ["SCOPES", *_MODEL, "generate"]

__getattr__ = on_first_use(__name__, dict.fromkeys(_MODEL, "model"))


def generate(image: Image, *, name: str = "", scope: str = "squashed") -> Sbom:
    """Catalog ``image`` layer by layer (each layer's tar streamed once).

    ``squashed``: the packages the final filesystem holds; ``all-layers``: also those a
    later layer removed (they still ship in the lower layer), with the removing layer."""
    from wharfie.imagefs import walk  # the walker and cataloguers: not loaded by a push
    from wharfie.security.sbom.collect import Catalog, wanted
    from wharfie.security.sbom.model import LayerRef, Sbom

    if scope not in SCOPES:
        raise InvalidInput(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    catalog = Catalog()
    layers = []
    for view in walk(image, want=wanted):
        ref = LayerRef(view.index, str(view.digest), str(view.diff_id or ""), view.created_by)
        catalog.apply(ref, view.entries())
        layers.append(ref)
    return Sbom(image=name or str(image.digest), digest=str(image.digest),
                image_id=str(image.id), scope=scope, distro=catalog.distro, layers=layers,
                packages=catalog.packages(scope))
