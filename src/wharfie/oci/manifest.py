"""Descriptors, manifests, indexes and image configs: parsed form beside exact bytes.

A digest is always over the bytes as received or written, so every document
keeps ``raw``; the parsed fields are a read-only view of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wharfie.errors import InvalidInput
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.platform import Platform


def canonical_json(obj: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (sorted keys, no spaces, no escaping of <>&)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _load(raw: bytes, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"invalid {what}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"invalid {what}: not a JSON object")
    return doc


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, its digest and size."""

    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Descriptor:
        try:
            size = d["size"]
            if not isinstance(size, int) or size < 0:
                raise InvalidInput(f"invalid descriptor size {size!r}")
            return cls(
                media_type=d.get("mediaType", ""),
                digest=Digest(d["digest"]),
                size=size,
                annotations=dict(d.get("annotations") or {}),
                platform=Platform.from_dict(d["platform"]) if d.get("platform") else None,
                urls=tuple(d.get("urls") or ()),
                artifact_type=d.get("artifactType"),
            )
        except (KeyError, TypeError) as e:
            raise InvalidInput(f"invalid descriptor: missing or bad field {e}") from None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest),
                             "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = self.platform.to_dict()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker schema 2)."""

    raw: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        doc = _load(raw, "manifest")
        if doc.get("schemaVersion") != 2:
            raise InvalidInput(f"unsupported manifest schemaVersion {doc.get('schemaVersion')!r}")
        mtype = doc.get("mediaType") or media_type or mt.OCI_MANIFEST
        if mtype in mt.INDEXES or "manifests" in doc:
            raise InvalidInput("expected an image manifest, got an index")
        if "config" not in doc:
            raise InvalidInput("invalid manifest: no config")
        return cls(
            raw=bytes(raw), media_type=mtype,
            config=Descriptor.from_dict(doc["config"]),
            layers=tuple(Descriptor.from_dict(x) for x in doc.get("layers") or ()),
            annotations=dict(doc.get("annotations") or {}),
            subject=Descriptor.from_dict(doc["subject"]) if doc.get("subject") else None,
            artifact_type=doc.get("artifactType"),
        )

    @classmethod
    def build(cls, config: Descriptor, layers: list[Descriptor], *,
              media_type: str = mt.OCI_MANIFEST, annotations: dict[str, str] | None = None,
              subject: Descriptor | None = None) -> Manifest:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                               "config": config.to_dict(),
                               "layers": [x.to_dict() for x in layers]}
        if subject:
            doc["subject"] = subject.to_dict()
        if annotations:
            doc["annotations"] = annotations
        return cls.parse(json.dumps(doc, indent=2).encode(), media_type)


@dataclass(frozen=True)
class Index:
    """An OCI image index or Docker manifest list."""

    raw: bytes
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Index:
        doc = _load(raw, "index")
        if doc.get("schemaVersion") != 2:
            raise InvalidInput(f"unsupported index schemaVersion {doc.get('schemaVersion')!r}")
        if not isinstance(doc.get("manifests", []), list):
            raise InvalidInput("invalid index: manifests is not a list")
        return cls(
            raw=bytes(raw), media_type=doc.get("mediaType") or media_type or mt.OCI_INDEX,
            manifests=tuple(Descriptor.from_dict(x) for x in doc.get("manifests") or ()),
            annotations=dict(doc.get("annotations") or {}),
            subject=Descriptor.from_dict(doc["subject"]) if doc.get("subject") else None,
        )

    @classmethod
    def build(cls, manifests: list[Descriptor], *, media_type: str = mt.OCI_INDEX,
              annotations: dict[str, str] | None = None) -> Index:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                               "manifests": [m.to_dict() for m in manifests]}
        if annotations:
            doc["annotations"] = annotations
        return cls.parse(json.dumps(doc, indent=2).encode(), media_type)

    def find(self, wanted: Platform) -> Descriptor | None:
        """The first image manifest whose platform satisfies ``wanted``."""
        for d in self.manifests:
            if d.platform and d.media_type not in mt.INDEXES and wanted.matches(d.platform):
                return d
        return None


def parse_manifest_or_index(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse bytes that may be either kind, telling them apart as registries do."""
    doc = _load(raw, "manifest")
    mtype = doc.get("mediaType") or media_type
    if mtype in mt.INDEXES or (mtype not in mt.MANIFESTS and "manifests" in doc):
        return Index.parse(raw, mtype)
    return Manifest.parse(raw, mtype)


@dataclass(frozen=True)
class ImageConfig:
    """An image configuration (the JSON whose digest is the image ID)."""

    raw: bytes
    doc: dict

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        doc = _load(raw, "image config")
        rootfs = doc.get("rootfs") or {}
        if not isinstance(rootfs.get("diff_ids", []), list):
            raise InvalidInput("invalid image config: rootfs.diff_ids is not a list")
        return cls(bytes(raw), doc)

    @classmethod
    def from_doc(cls, doc: dict) -> ImageConfig:
        return cls(canonical_json(doc), doc)

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest(d) for d in (self.doc.get("rootfs") or {}).get("diff_ids") or []]

    @property
    def history(self) -> list[dict]:
        return list(self.doc.get("history") or [])

    @property
    def config(self) -> dict:
        return dict(self.doc.get("config") or {})

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    @property
    def created(self) -> str | None:
        return self.doc.get("created")

    @property
    def platform(self) -> Platform:
        return Platform(self.doc.get("os", ""), self.doc.get("architecture", ""),
                        self.doc.get("variant") or None, self.doc.get("os.version") or None)
