"""``build --output``: where a built image goes besides (or instead of) the store.

``type=docker`` and ``type=oci`` write one archive (Docker 25+'s save format is both a
docker-archive and an OCI layout), ``type=tar`` the flattened root filesystem as a tar,
``type=local`` the same unpacked into a directory; ``dest=-`` is standard output.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import WharfieError
from wharfie.fs.output import open_output
from wharfie.images.imagestore import ImageStore
from wharfie.layers.apply import extract_tar
from wharfie.oci.reference import Reference
from wharfie.runtime.launch import export_rootfs
from wharfie.transports.archive import write_archive

TYPES = ("image", "registry", "docker", "oci", "tar", "local")


@dataclass(frozen=True)
class Output:
    type: str
    dest: str | None = None
    push: bool = False  # push the tags to their registries (the CLI does it)


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


@contextlib.contextmanager
def _sink(dest: str) -> Iterator[BinaryIO]:
    """``dest`` by ``open_output``'s rule; ``-`` is stdout."""
    if dest == "-":
        if sys.stdout.isatty():
            raise WharfieError("refusing to write a tar to a terminal: use dest=FILE")
        yield sys.stdout.buffer
        return
    with open_output(dest) as f:
        yield f


def write_output(out: Output, root: Path, store: ImageStore, manifest_digest: str,
                 tags: list[Reference]) -> None:
    """Send the built image where ``out`` says (``type=image`` needs nothing more)."""
    if out.type == "image":
        return
    assert out.dest is not None
    if out.type in ("docker", "oci"):
        with _sink(out.dest) as f:
            write_archive(f, [(store.get(manifest_digest), tags)])
    elif out.type == "tar":
        with _sink(out.dest) as f:
            export_rootfs(root, store, manifest_digest, f)
    else:
        dest = Path(out.dest)
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root) as spool:
            export_rootfs(root, store, manifest_digest, spool)
            spool.seek(0)
            extract_tar(spool, dest)  # resolved inside dest, whatever the image holds
