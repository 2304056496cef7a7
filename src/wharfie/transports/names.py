"""Transport names as skopeo spells them, and the one copy between any two of them.

=====================  ===============================================
``docker://REF``       an image in a registry
``oci:DIR[:TAG]``      an OCI image layout directory (TAG: its ref.name)
``oci-archive:FILE``   a tar of an OCI layout (``[:TAG]``)
``docker-archive:F``   ``docker save`` format (``[:REF]`` to name it)
``wharfie:REF``        wharfie's local image store (skopeo's containers-storage)
=====================  ===============================================
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.content.blobstore import ContentStore
from wharfie.errors import InvalidReference, NotFound, WharfieError
from wharfie.fs.output import open_output
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.base import ImageDestination, Progress, copy_image, copy_index

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions

TRANSPORTS = ("docker", "oci", "oci-archive", "docker-archive", "wharfie")


@dataclass(frozen=True)
class TransportName:
    transport: str
    location: str  # a reference for docker/wharfie, a path otherwise
    name: str | None = None  # the tag or reference inside a layout or archive

    def __str__(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.location}"
        return f"{self.transport}:{self.location}" + (f":{self.name}" if self.name else "")

    @property
    def reference(self) -> Reference | None:
        """The image reference this name carries, if any (used to tag at the destination)."""
        text = self.location if self.transport in ("docker", "wharfie") else (
            self.name if self.transport == "docker-archive" else None)
        if not text:
            return None
        try:
            return parse_reference(text)
        except InvalidReference:  # e.g. an image ID in the local store
            return None


def parse_name(text: str) -> TransportName:
    """Parse ``docker://busybox``, ``oci:/tmp/l:v1``, ``docker-archive:x.tar:app:1``..."""
    transport, sep, rest = text.partition(":")
    if not sep or transport not in TRANSPORTS or not rest:
        raise InvalidReference(
            f"invalid transport name {text!r}: want one of docker://REF, oci:DIR[:TAG], "
            "oci-archive:FILE[:TAG], docker-archive:FILE[:REF], wharfie:REF")
    if transport == "docker":
        if not rest.startswith("//"):
            raise InvalidReference(f"invalid transport name {text!r}: docker:// needs two slashes")
        rest = rest[2:]
        parse_reference(rest)  # fail early on a bad name
        return TransportName("docker", rest)
    if transport == "wharfie":
        return TransportName("wharfie", rest)
    path, _, name = rest.partition(":")
    return TransportName(transport, path, name or None)


@dataclass
class Endpoints:
    """What opening a transport needs: the local store (lazily), registry options, scratch."""

    images: Callable[[], ImageStore]
    options: RegistryOptions
    scratch: Path


def open_source(name: TransportName, env: Endpoints) -> Image | ImageIndex:
    """The image or index ``name`` designates, read lazily where the transport allows."""
    if name.transport == "docker":
        from wharfie.transports.registry.source import open_remote

        return open_remote(parse_reference(name.location), env.options)
    if name.transport == "wharfie":
        return env.images().open_target(name.location)
    if name.transport == "oci":
        from wharfie.transports.layout import OCILayout

        return OCILayout(name.location).get(name.name)
    return _archive_image(name, env)


def _archive_image(name: TransportName, env: Endpoints) -> Image:
    from wharfie.transports.archive import read_archive

    env.scratch.mkdir(parents=True, exist_ok=True)
    content = ContentStore(tempfile.mkdtemp(prefix="archive-", dir=env.scratch))
    try:
        with open(name.location, "rb") as f:
            found = read_archive(f, content)
    except FileNotFoundError:
        raise NotFound(f"open {name.location}: no such file or directory") from None
    if name.name:
        wanted = parse_reference(name.name) if name.transport == "docker-archive" else None
        for item in found:
            if any(t == wanted or t.tag == name.name for t in item.tags):
                return item.image
        raise NotFound(f"no image named {name.name!r} in {name.location}")
    if len(found) != 1:
        raise WharfieError(f"{name.location} holds {len(found)} images: name one "
                           f"({name.transport}:{name.location}:NAME)")
    return found[0].image


def copy(src: TransportName, dst: TransportName, env: Endpoints, *, all: bool = False,
         platform: Platform | None = None, progress: Progress | None = None,
         destination: ImageDestination | None = None) -> Digest:
    """Copy ``src`` to ``dst``: only missing blobs move, manifest bytes unchanged.

    An index is copied whole with ``all``; otherwise the platform's image (host's by default)
    is chosen, as skopeo does.
    """
    ref = _dest_ref(src, dst)
    kw = {"progress": progress} if progress else {}
    try:
        source = open_source(src, env)
        if isinstance(source, ImageIndex) and not all:
            source = source.image_for(platform or host_platform())
        if dst.transport in ("oci-archive", "docker-archive"):
            return _write_archive(source, dst, ref)
        dest = destination or open_destination(dst, env)
        if isinstance(source, ImageIndex):
            return copy_index(source, dest, ref, jobs=env.options.jobs, **kw)
        return copy_image(source, dest, ref, jobs=env.options.jobs, **kw)
    finally:
        shutil.rmtree(env.scratch, ignore_errors=True)


def open_destination(dst: TransportName, env: Endpoints) -> ImageDestination:
    if dst.transport == "docker":
        from wharfie.transports.registry.destination import RegistryDestination

        ref = parse_reference(dst.location)
        return RegistryDestination(env.options.registry(ref.domain), ref.path)
    if dst.transport == "wharfie":
        return env.images().destination()
    if dst.transport == "oci":
        from wharfie.transports.layout import LayoutDestination

        return LayoutDestination(dst.location)
    raise WharfieError(f"{dst.transport} is not a destination here")


def _dest_ref(src: TransportName, dst: TransportName) -> Reference | None:
    """How the copy is named at the destination: its own name, else the source's."""
    if dst.transport in ("docker", "wharfie"):
        ref = parse_reference(dst.location)
        return None if ref.digest else ref
    base = src.reference
    if dst.transport == "docker-archive":
        return parse_reference(dst.name) if dst.name else base
    if not dst.name:  # oci and oci-archive: the name is a tag (org.opencontainers.image.ref.name)
        return None
    return (base or Reference("localhost", "image")).with_tag(dst.name)


def _write_archive(source: Image | ImageIndex, dst: TransportName,
                   ref: Reference | None) -> Digest:
    from wharfie.transports.archive import write_archive

    if isinstance(source, ImageIndex):
        raise WharfieError(f"{dst.transport} holds single images: copy without --all")
    with open_output(dst.location) as f:
        write_archive(f, [(source, [ref] if ref else [])])
    return source.digest
