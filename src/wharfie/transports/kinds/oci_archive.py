"""``oci-archive:FILE[:TAG]``: a tar of an OCI layout; TAG is the image's ``ref.name``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.oci.image import Image
from wharfie.transports.kinds.common import (
    Endpoints,
    TransportName,
    format_path,
    no_reference,
    nothing_to_record,
    open_archive,
    parse_path,
    tag_dest_ref,
)

if TYPE_CHECKING:
    from wharfie.transports.archive import ArchiveDestination

NAME = "oci-archive"
USAGE = "oci-archive:FILE[:TAG]"


def parse(rest: str, text: str) -> TransportName:
    return parse_path(NAME, rest)


def open_source(name: TransportName, env: Endpoints) -> Image:
    return open_archive(name, env, lambda t: t.tag == name.name)


def open_destination(name: TransportName, env: Endpoints) -> ArchiveDestination:
    from wharfie.transports.archive import ArchiveDestination

    return ArchiveDestination(name.location, NAME, env.scratch)


format, reference, dest_ref, copied = format_path, no_reference, tag_dest_ref, nothing_to_record
