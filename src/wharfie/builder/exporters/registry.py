"""``type=registry`` (and ``--push``): the built image's tags pushed to their registries."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wharfie.builder.result import BuildEvent
from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import Reference

if TYPE_CHECKING:
    from wharfie.transports.registry.client import RegistryOptions


def push_tags(images: ImageStore, tags: list[Reference], step: int,
              registries: RegistryOptions | None, emit: Callable[[BuildEvent], None]) -> None:
    """Push each tag, announcing it as buildx does (``push`` then ``pushed`` events)."""
    from wharfie.transports.push import push_image
    from wharfie.transports.registry.client import RegistryOptions

    options = registries or RegistryOptions()
    for ref in tags:
        emit(BuildEvent("push", step, str(ref)))
        push_image(images, ref, options)
        emit(BuildEvent("pushed", step, str(ref)))
