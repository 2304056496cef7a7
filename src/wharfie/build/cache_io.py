"""``--cache-to`` / ``--cache-from type=local``: build cache as an OCI image layout directory.

The directory holds one manifest (tagged ``cache``) whose config blob lists the
step records by key and whose layers are the layer blobs those records name,
so any OCI tool can copy it, and a build on another machine can start warm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from wharfie.build.cache import BuildCache, CacheRecord
from wharfie.content.store import ContentStore
from wharfie.errors import InvalidInput, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor, Index, Manifest

CACHE_CONFIG = "application/vnd.wharfie.buildcache.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class CacheSpec:
    type: str
    path: Path


def parse_cache_spec(spec: str, key: str) -> CacheSpec:
    """``type=local,src=DIR`` (from) or ``type=local,dest=DIR`` (to)."""
    opts = dict(part.partition("=")[::2] for part in spec.split(",") if part)
    kind = opts.get("type", "local")
    if kind != "local":
        raise WharfieError(f"unsupported cache type {kind!r}: wharfie reads and writes "
                           "type=local")
    where = opts.get(key)
    if not where:
        raise WharfieError(f"cache spec {spec!r} needs {key}=DIR")
    return CacheSpec(kind, Path(where))


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
    config = Descriptor(CACHE_CONFIG, layout.put(raw), len(raw))
    manifest = Manifest.build(config, list(layers.values()))
    layout.put(manifest.raw)
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

