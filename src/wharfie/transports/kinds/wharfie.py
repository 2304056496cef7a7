"""``wharfie:REF``: wharfie's local image store (skopeo's containers-storage)."""

from __future__ import annotations

from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.base import ImageDestination
from wharfie.transports.kinds.common import (
    Endpoints,
    TransportName,
    nothing_to_record,
    optional_reference,
)

NAME = "wharfie"
USAGE = "wharfie:REF"


def parse(rest: str, text: str) -> TransportName:
    return TransportName(NAME, rest)


def format(name: TransportName) -> str:
    return f"{NAME}:{name.location}"


def reference(name: TransportName) -> Reference | None:
    return optional_reference(name.location)  # None for an image ID


def dest_ref(dst: TransportName, src: TransportName) -> Reference | None:
    ref = parse_reference(dst.location)
    return None if ref.digest else ref


def open_source(name: TransportName, env: Endpoints) -> Image | ImageIndex:
    return env.images().open_target(name.location)


def open_destination(name: TransportName, env: Endpoints) -> ImageDestination:
    return env.images().destination()


copied = nothing_to_record
