"""An OCI image layout directory as a source and a destination of images.

Images are found through ``index.json``: by the ``org.opencontainers.image.ref.name``
annotation (a tag such as ``latest``), by the fuller ``io.containerd.image.name``
Docker 25+ adds, or, if the layout holds a single image, without naming it.
Blobs are written through a ``ContentStore`` rooted at the layout, so a blob is
visible only once verified; its ``ingest/`` scratch directory is removed once a manifest
is written (the last step of a copy).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from wharfie.content.blobstore import OCI_LAYOUT, ContentStore
from wharfie.errors import InvalidInput, InvalidReference, NotFound
from wharfie.fs.atomic import atomic_write
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, Image, ImageIndex
from wharfie.oci.manifest import Descriptor, Index, parse_manifest_or_index
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.base import ImageDestination

REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"


class BlobDir(BlobSource):
    """Blobs under ``<root>/blobs/<alg>/<hex>``, opened by descriptor."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        try:
            return open(self.path(desc.digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {desc.digest} is missing from the layout at {self.root}") from None


class StoredManifestImage(Image):
    """An image whose manifest is itself a blob of ``blobs`` (layouts, content stores)."""

    def __init__(self, desc: Descriptor, blobs: BlobSource) -> None:
        self.descriptor, self._blobs = desc, blobs

    def manifest_bytes(self) -> tuple[bytes, str]:
        return self._blobs.read_blob(self.descriptor), self.descriptor.media_type

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open_blob(desc)


class StoredIndex(ImageIndex):
    """An index whose bytes and children are blobs of ``blobs``."""

    def __init__(self, desc: Descriptor, blobs: BlobSource) -> None:
        self.descriptor, self._blobs = desc, blobs

    def index_bytes(self) -> tuple[bytes, str]:
        return self._blobs.read_blob(self.descriptor), self.descriptor.media_type

    def child(self, desc: Descriptor) -> Image | ImageIndex:
        return open_descriptor(desc, self._blobs)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open_blob(desc)


def open_descriptor(desc: Descriptor, blobs: BlobSource) -> Image | ImageIndex:
    """The image or index a descriptor names, telling the kinds apart by content if needed."""
    media_type = desc.media_type
    if media_type not in mt.ALL_MANIFESTS:
        parsed = parse_manifest_or_index(blobs.read_blob(desc), media_type or None)
        media_type = parsed.media_type
        desc = Descriptor(media_type, desc.digest, desc.size, desc.annotations, desc.platform)
    if media_type in mt.INDEXES:
        return StoredIndex(desc, blobs)
    return StoredManifestImage(desc, blobs)


def descriptor_names(desc: Descriptor) -> list[str]:
    """The names an index entry answers to: its ref.name tag and its full image name."""
    return [n for n in (desc.annotations.get(REF_NAME), desc.annotations.get(IMAGE_NAME)) if n]


def descriptor_reference(desc: Descriptor) -> Reference | None:
    """The full image reference an index entry carries, if any (Docker 25+, containerd, skopeo)."""
    for name in (desc.annotations.get(IMAGE_NAME), desc.annotations.get(REF_NAME)):
        if not name or (":" not in name and "/" not in name and "@" not in name):
            continue  # a bare tag like ``latest`` names no repository
        try:
            return parse_reference(name)
        except InvalidReference:
            continue
    return None


class OCILayout:
    """An OCI image layout directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blobs = BlobDir(self.root)

    def index(self) -> Index:
        try:
            layout = json.loads((self.root / "oci-layout").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"{self.root} is not an OCI image layout (no oci-layout file)") from None
        except ValueError:
            raise InvalidInput(f"{self.root}/oci-layout is not JSON") from None
        if not isinstance(layout, dict) or not str(
                layout.get("imageLayoutVersion", "")).startswith("1."):
            raise InvalidInput(f"{self.root}: unsupported OCI layout version")
        try:
            return Index.parse((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"{self.root} is not an OCI image layout (no index.json)") from None

    def entries(self) -> tuple[Descriptor, ...]:
        return self.index().manifests

    def find(self, name: str | None = None) -> Descriptor:
        """The index entry called ``name`` (a tag or full reference), or the only one."""
        entries = self.entries()
        if name is None:
            if len(entries) != 1:
                raise InvalidInput(
                    f"the layout at {self.root} holds {len(entries)} images: name one")
            return entries[0]
        wanted = {name}
        with contextlib.suppress(InvalidReference):
            ref = parse_reference(name)
            wanted |= {str(ref), ref.familiar()}
        for desc in entries:
            if wanted & set(descriptor_names(desc)):
                return desc
        raise NotFound(f"no image named {name!r} in the layout at {self.root}")

    def get(self, name: str | None = None) -> Image | ImageIndex:
        return open_descriptor(self.find(name), self.blobs)

    def image(self, name: str | None = None, platform: Platform | None = None) -> Image:
        """One image, choosing the platform's child (host by default) if ``name`` is an index."""
        found = self.get(name)
        while isinstance(found, ImageIndex):
            found = found.image_for(platform or host_platform())
        return found

    def destination(self) -> LayoutDestination:
        return LayoutDestination(self.root)


class LayoutDestination(ImageDestination):
    """Writes images into a layout; ``put_manifest`` with a ref adds or replaces its entry."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.content = ContentStore(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            atomic_write(self.root / "oci-layout", OCI_LAYOUT)
        if not (self.root / "index.json").exists():
            self.content.write_index([])

    def has_blob(self, desc: Descriptor) -> bool:
        return self.content.exists(desc.digest)

    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self.content.ingest(stream, desc.digest, desc.size, progress)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        digest = self.content.put(raw)
        annotations: dict[str, str] = {}
        if ref is not None:
            annotations[IMAGE_NAME] = str(ref)
            if ref.tag:
                annotations[REF_NAME] = ref.tag
        parsed = parse_manifest_or_index(raw, media_type)
        platform = None
        if parsed.media_type in mt.MANIFESTS:
            with contextlib.suppress(NotFound, InvalidInput):
                config = json.loads(self.content.read(parsed.config.digest))  # type: ignore[union-attr]
                if config.get("os") and config.get("architecture"):
                    platform = Platform(config["os"], config["architecture"],
                                        config.get("variant") or None)
        desc = Descriptor(parsed.media_type, digest, len(raw), annotations, platform).to_dict()
        entries = self._read_entries()
        if isinstance(parsed, Index):  # its children were put untagged just before: not roots
            children = {d.digest for d in parsed.manifests}
            entries = [e for e in entries if e.get("annotations") or e.get("digest") not in children]
        for i, entry in enumerate(entries):
            if self._same_name(entry.get("annotations") or {}, annotations, entry, digest):
                entries[i] = desc  # a name moves: replace its entry where it was
                break
        else:
            entries.append(desc)
        self.content.write_index(entries)
        self.close()  # the manifest comes last: nothing is being ingested now
        return digest

    @staticmethod
    def _same_name(old: dict, new: dict, entry: dict, digest: Digest) -> bool:
        if not new:  # untagged: one entry per digest
            return not old and entry.get("digest") == digest
        if old.get(IMAGE_NAME):
            return old[IMAGE_NAME] == new[IMAGE_NAME]
        return bool(old.get(REF_NAME)) and old.get(REF_NAME) == new.get(REF_NAME)

    def _read_entries(self) -> list[dict]:
        doc = json.loads((self.root / "index.json").read_bytes())
        return list(doc.get("manifests") or [])

    def close(self) -> None:
        """Drop the empty scratch directory so the layout holds only what the spec names."""
        with contextlib.suppress(OSError):
            self.content.ingest_dir.rmdir()
            self.content = ContentStore(self.root)  # recreates it if more blobs come

    def __enter__(self) -> LayoutDestination:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_layout_images(layout: OCILayout) -> Iterator[tuple[Descriptor, Image | ImageIndex]]:
    for desc in layout.entries():
        yield desc, open_descriptor(desc, layout.blobs)
