"""What every transport module shares: the parsed name, what opening one needs, and defaults.

Each module in ``kinds/`` provides, under these names:

- ``NAME``: the prefix, as skopeo spells it (``docker``, ``oci``...), and ``USAGE``;
- ``parse(rest, text) -> TransportName``: the part after ``NAME:``;
- ``format(name) -> str``: the inverse;
- ``reference(name) -> Reference | None``: the image reference the name carries, if any;
- ``dest_ref(dst, src) -> Reference | None``: how a copy into ``dst`` is named there;
- ``open_source(name, env) -> Image | ImageIndex`` and
  ``open_destination(name, env) -> ImageDestination``;
- ``copied(name, target, env)``: called once a copy from or to ``name`` has completed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.content.blobstore import ContentStore
from wharfie.errors import InvalidReference, NotFound, WharfieError
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.reference import Reference, parse_reference

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions


@dataclass(frozen=True)
class TransportName:
    """A parsed ``transport:location[:name]``; its transport module does the work."""

    transport: str
    location: str  # a reference for docker/wharfie, a path otherwise
    name: str | None = None  # the tag or reference inside a layout or archive

    @property
    def kind(self):
        """The module implementing this name's transport."""
        from wharfie.transports.kinds import KINDS

        return KINDS[self.transport]

    def __str__(self) -> str:
        return self.kind.format(self)

    @property
    def reference(self) -> Reference | None:
        """The image reference this name carries, if any (used to tag at the destination)."""
        return self.kind.reference(self)


@dataclass
class Endpoints:
    """What opening a transport needs: the local store (lazily), registry options, scratch."""

    images: Callable[[], ImageStore]
    options: RegistryOptions
    scratch: Path


# -- defaults for the file-based transports ---------------------------------------------------

def parse_path(transport: str, rest: str) -> TransportName:
    """``PATH[:NAME]``."""
    path, _, name = rest.partition(":")
    return TransportName(transport, path, name or None)


def format_path(name: TransportName) -> str:
    return f"{name.transport}:{name.location}" + (f":{name.name}" if name.name else "")


def no_reference(name: TransportName) -> None:
    return None


def tag_dest_ref(dst: TransportName, src: TransportName) -> Reference | None:
    """A layout's name is a tag (org.opencontainers.image.ref.name), on the source's name."""
    if not dst.name:
        return None
    return (src.reference or Reference("localhost", "image")).with_tag(dst.name)


def nothing_to_record(name: TransportName, target: Image | ImageIndex, env: Endpoints) -> None:
    return None


def optional_reference(text: str | None) -> Reference | None:
    """``text`` as a reference, or None if there is none or it is not one (an image ID)."""
    if not text:
        return None
    try:
        return parse_reference(text)
    except InvalidReference:
        return None


def open_archive(name: TransportName, env: Endpoints,
                 matches: Callable[[Reference], bool]) -> Image:
    """The image of a docker-archive or oci-archive file: the one whose tag ``matches``, or
    the only one when ``name`` names none. Blobs are unpacked into ``env.scratch``."""
    from wharfie.transports.archive import read_archive

    env.scratch.mkdir(parents=True, exist_ok=True)
    content = ContentStore(tempfile.mkdtemp(prefix="archive-", dir=env.scratch))
    try:
        with open(name.location, "rb") as f:
            found = read_archive(f, content)
    except FileNotFoundError:
        raise NotFound(f"open {name.location}: no such file or directory") from None
    if name.name:
        for item in found:
            if any(matches(t) for t in item.tags):
                return item.image
        raise NotFound(f"no image named {name.name!r} in {name.location}")
    if len(found) != 1:
        raise WharfieError(f"{name.location} holds {len(found)} images: name one "
                           f"({name.transport}:{name.location}:NAME)")
    return found[0].image
