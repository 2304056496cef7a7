"""``docker-archive:FILE[:REF]``: ``docker save``'s format; REF names the image in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.oci.image import Image
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.kinds.common import (
    Endpoints,
    TransportName,
    format_path,
    nothing_to_record,
    open_archive,
    optional_reference,
    parse_path,
)

if TYPE_CHECKING:
    from wharfie.transports.archive import ArchiveDestination

NAME = "docker-archive"
USAGE = "docker-archive:FILE[:REF]"


def parse(rest: str, text: str) -> TransportName:
    return parse_path(NAME, rest)


def reference(name: TransportName) -> Reference | None:
    return optional_reference(name.name)


def dest_ref(dst: TransportName, src: TransportName) -> Reference | None:
    return parse_reference(dst.name) if dst.name else src.reference


def open_source(name: TransportName, env: Endpoints) -> Image:
    wanted = parse_reference(name.name) if name.name else None
    return open_archive(name, env, lambda t: t == wanted or t.tag == name.name)


def open_destination(name: TransportName, env: Endpoints) -> ArchiveDestination:
    from wharfie.transports.archive import ArchiveDestination

    return ArchiveDestination(name.location, NAME, env.scratch)


format, copied = format_path, nothing_to_record
