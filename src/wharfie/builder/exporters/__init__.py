"""``build --output``: where a built image goes besides (or instead of) the store.

One module per output type, found through ``EXPORTERS``: ``type=image`` (the store, which
every build writes to anyway), ``type=docker`` and ``type=oci`` (one archive: Docker 25+'s
save format is both a docker-archive and an OCI layout), ``type=tar`` (the flattened root
filesystem as a tar), ``type=local`` (the same unpacked into a directory) and
``type=registry`` (the tags pushed); ``dest=-`` is standard output.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.errors import WharfieError

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.oci.reference import Reference

TYPES = ("image", "registry", "docker", "oci", "tar", "local")

# type -> the module whose export(dest, root, store, manifest_digest, tags) writes it;
# imported when used: archives and root filesystems need the transports and containers.
EXPORTERS: dict[str, str] = {
    "image": "image",
    "docker": "archive",
    "oci": "archive",
    "tar": "tar",
    "local": "local",
}


@dataclass(frozen=True)
class Output:
    type: str
    dest: str | None = None
    push: bool = False  # push the tags to their registries (exporters.registry)


def parse_output(spec: str) -> Output:
    """``type=local,dest=out`` or a bare path (which means ``type=local``), as buildx reads it."""
    if "=" not in spec:
        return Output("local", spec)
    opts = dict(part.partition("=")[::2] for part in spec.split(",") if part)
    kind = opts.get("type", "local")
    if kind not in TYPES:
        raise WharfieError(f"unsupported --output type {kind!r} (use {', '.join(TYPES)})")
    if kind == "registry":  # buildx: type=registry is type=image,push=true
        return Output("image", push=True)
    dest = opts.get("dest")
    if kind != "image" and not dest:
        raise WharfieError(f"--output type={kind} needs dest=PATH (or dest=- for stdout)")
    return Output(kind, dest, push=kind == "image" and opts.get("push") == "true")


def write_output(out: Output, root: Path, store: ImageStore, manifest_digest: str,
                 tags: list[Reference]) -> None:
    """Send the built image where ``out`` says."""
    exporter = importlib.import_module(f"{__name__}.{EXPORTERS[out.type]}")
    exporter.export(out.dest, root, store, manifest_digest, tags)
