"""``oci:DIR[:TAG]``: an OCI image layout directory; TAG is its ``ref.name``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.oci.image import Image, ImageIndex
from wharfie.transports.kinds.common import (
    Endpoints,
    TransportName,
    format_path,
    no_reference,
    nothing_to_record,
    parse_path,
    tag_dest_ref,
)

if TYPE_CHECKING:
    from wharfie.transports.layout import LayoutDestination

NAME = "oci"
USAGE = "oci:DIR[:TAG]"


def parse(rest: str, text: str) -> TransportName:
    return parse_path(NAME, rest)


def open_source(name: TransportName, env: Endpoints) -> Image | ImageIndex:
    from wharfie.transports.layout import OCILayout

    return OCILayout(name.location).get(name.name)


def open_destination(name: TransportName, env: Endpoints) -> LayoutDestination:
    from wharfie.transports.layout import LayoutDestination

    return LayoutDestination(name.location)


format, reference, dest_ref, copied = format_path, no_reference, tag_dest_ref, nothing_to_record
