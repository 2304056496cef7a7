"""``--cache-to`` / ``--cache-from``: the build cache as an OCI artifact.

One manifest whose config blob lists the step records by key and whose layers are
the layer blobs those records name. ``type=local`` keeps it in an OCI image layout
directory (tagged ``cache``); ``type=registry,ref=REPO:TAG`` pushes the same manifest
to any registry, so build machines share one cache.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from wharfie.builder.cache.records import BuildCache, CacheRecord
from wharfie.content.blobstore import ContentStore
from wharfie.errors import InvalidInput, NotFound, WharfieError
from wharfie.fs.output import output_dir
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage
from wharfie.oci.manifest import Descriptor, Index, Manifest
from wharfie.oci.mutate import write_image
from wharfie.oci.reference import parse_reference

if TYPE_CHECKING:
    from wharfie.transports.registry.client import RegistryOptions

CACHE_CONFIG = "application/vnd.wharfie.buildcache.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class CacheSpec:
    type: str  # local or registry
    location: str  # a directory, or a registry reference


def parse_cache_spec(spec: str, key: str) -> CacheSpec:
    """``type=local,src=DIR`` / ``type=local,dest=DIR``, or ``type=registry,ref=REPO:TAG``."""
    opts = dict(part.partition("=")[::2] for part in spec.split(",") if part)
    kind = opts.get("type", "local")
    if kind not in ("local", "registry"):
        raise WharfieError(f"unsupported cache type {kind!r}: use type=local or type=registry")
    field_name = "ref" if kind == "registry" else key
    where = opts.get(field_name)
    if not where:
        raise WharfieError(f"cache spec {spec!r} needs {field_name}=...")
    if kind == "registry":
        parse_reference(where)
    return CacheSpec(kind, where)


def export_to(cache: BuildCache, keys: list[str], spec: CacheSpec, scratch: Path,
              registries: RegistryOptions | None = None) -> int:
    """Export to a directory, or through a temporary layout to a registry."""
    if spec.type == "local":
        with output_dir(spec.location) as dest:
            return export_cache(cache, keys, dest)
    from wharfie.transports.base import copy_image
    from wharfie.transports.registry.client import RegistryOptions
    from wharfie.transports.registry.destination import RegistryDestination

    ref = parse_reference(spec.location)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="cache-export-") as tmp:
        n = export_cache(cache, keys, Path(tmp))
        layout = ContentStore(tmp)
        entry = Index.parse((Path(tmp) / "index.json").read_bytes()).manifests[0]
        image = BytesImage(layout.read(entry.digest), entry.media_type, _LayoutBlobs(layout))
        registry = (registries or RegistryOptions()).registry(ref.domain, push=True)
        copy_image(image, RegistryDestination(registry, ref.path), ref)
    return n


def import_from(cache: BuildCache, spec: CacheSpec,
                registries: RegistryOptions | None = None) -> list[Digest]:
    """Import from a directory or a registry reference; returns the layers now held."""
    if spec.type == "local":
        return import_cache(cache, Path(spec.location))
    from wharfie.transports.registry.client import RegistryOptions
    from wharfie.transports.registry.source import RegistryImage, open_remote

    ref = parse_reference(spec.location)
    try:
        remote = open_remote(ref, registries or RegistryOptions())
    except NotFound:
        return []  # no cache pushed yet: a cold build, as BuildKit does
    if not isinstance(remote, RegistryImage):
        raise InvalidInput(f"--cache-from {ref}: not a wharfie build cache")
    raw, _ = remote.manifest_bytes()
    manifest = Manifest.parse(raw)
    if manifest.config.media_type != CACHE_CONFIG:
        raise InvalidInput(f"--cache-from {ref}: not a wharfie build cache")
    for layer in manifest.layers:
        with remote.open_blob(layer) as f:
            cache.content.ingest(f, layer.digest, layer.size)
    return _load_records(cache, json.loads(remote.read_blob(manifest.config))["records"],
                         manifest)


class _LayoutBlobs(BlobSource):
    def __init__(self, layout: ContentStore) -> None:
        self.layout = layout

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.layout.open(desc.digest)


def export_cache(cache: BuildCache, keys: list[str], dest: Path) -> int:
    """Write the records for ``keys`` (and their layers) to a layout at ``dest``."""
    layout = ContentStore(dest).ensure()
    records = cache.records(keys)
    doc = {k: {"created": r.created, "layer": r.layer.to_dict() if r.layer else None,
               "diff_id": r.diff_id} for k, r in sorted(records.items())}
    layers = {r.layer.digest: r.layer for r in records.values() if r.layer}
    for desc in layers.values():
        with cache.content.open(desc.digest) as f:
            layout.ingest(f, desc.digest, desc.size)
    raw = json.dumps({"records": doc}, sort_keys=True).encode()
    manifest = write_image(layout, raw, list(layers.values()), config_media_type=CACHE_CONFIG)
    entry = manifest.descriptor.to_dict()
    entry["annotations"] = {REF_NAME: "cache"}
    layout.write_index([entry])
    return len(records)


def import_cache(cache: BuildCache, src: Path) -> list[Digest]:
    """Load the records of a cache layout at ``src`` into ``cache``; returns their layers."""
    index_path = src / "index.json"
    if not index_path.is_file():
        raise WharfieError(f"--cache-from {src}: not a cache directory (no index.json)")
    layout = ContentStore(src)
    index = Index.parse(index_path.read_bytes())
    desc = next((d for d in index.manifests if d.annotations.get(REF_NAME) == "cache"), None)
    if desc is None:
        raise InvalidInput(f"--cache-from {src}: no manifest tagged 'cache'")
    manifest = Manifest.parse(_verified(layout, desc))
    if manifest.config.media_type != CACHE_CONFIG:
        raise InvalidInput(f"--cache-from {src}: not a wharfie build cache")
    records = json.loads(_verified(layout, manifest.config))["records"]
    for layer in manifest.layers:
        with layout.open(layer.digest) as f:
            cache.content.ingest(f, layer.digest, layer.size)
    return _load_records(cache, records, manifest)


def _load_records(cache: BuildCache, records: dict, manifest: Manifest) -> list[Digest]:
    for key, r in records.items():
        layer = Descriptor.from_dict(r["layer"]) if r["layer"] else None
        cache.put(key, CacheRecord(r["created"], layer,
                                   Digest(r["diff_id"]) if r["diff_id"] else None))
    return [layer.digest for layer in manifest.layers]


def _verified(layout: ContentStore, desc: Descriptor) -> bytes:
    data = layout.read(desc.digest)
    if len(data) != desc.size or Digest.of(data) != desc.digest:
        raise InvalidInput(f"cache blob {desc.digest} is corrupt")
    return data

