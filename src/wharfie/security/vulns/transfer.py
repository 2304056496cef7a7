"""``wharfie db push REF`` / ``db pull REF``: the vulnerability database as an OCI
artifact (``artifactType`` below, an empty config, one layer: the SQLite file), so an
air-gapped fleet updates it through any registry it already has, wharfie's own included.

The push sends a consistent snapshot (SQLite's backup API) through the library's push
(auth, mounts, retries); the pull verifies the layer's digest before replacing the local
database in one rename, and records where the copy came from as a source.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.errors import DigestMismatch, InvalidInput
from wharfie.oci import mediatypes as mt
from wharfie.oci.artifact import MemoryBlobs
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.security.vulns import db

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.push import PushResult
    from wharfie.transports.registry.client import RegistryOptions

ARTIFACT_TYPE = "application/vnd.wharfie.vulndb.v1"
LAYER_TYPE = "application/vnd.wharfie.vulndb.layer.v1.sqlite3"
EMPTY_CONFIG = b"{}"
_CHUNK = 1 << 20


@contextmanager
def _snapshot(root: Path) -> Iterator[Path]:
    """A consistent copy of the database (even while an import writes), removed after."""
    with db.connect(root) as conn, tempfile.TemporaryDirectory(
            dir=db.db_path(root).parent) as tmp:
        copy = Path(tmp) / "vulns.db"
        with sqlite3.connect(copy) as out:
            conn.backup(out)
        out.close()
        yield copy


def _file_digest(path: Path) -> Digest:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return Digest(f"sha256:{h.hexdigest()}")


def artifact(path: Path) -> Image:
    """The artifact manifest of the database file at ``path``, its blobs read from it."""
    layer = Descriptor(LAYER_TYPE, _file_digest(path), path.stat().st_size,
                       {"org.opencontainers.image.title": "vulns.db"})
    config = Descriptor(mt.OCI_EMPTY, Digest.of(EMPTY_CONFIG), len(EMPTY_CONFIG))
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "artifactType": ARTIFACT_TYPE, "config": config.to_dict(),
                "layers": [layer.to_dict()],
                "annotations": {"org.opencontainers.image.created":
                                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    return BytesImage(raw, mt.OCI_MANIFEST,
                      MemoryBlobs({layer.digest: path, config.digest: EMPTY_CONFIG}))


def push_db(root: Path, images: ImageStore, ref: Reference,
            options: RegistryOptions) -> PushResult:
    """Push the database under ``root`` to ``ref``."""
    from wharfie.transports.push import push_target

    with _snapshot(root) as copy:
        return push_target(images, artifact(copy), ref, options)


def pull_db(root: Path, ref: Reference, options: RegistryOptions) -> tuple[Digest, int]:
    """Replace the database under ``root`` with the one at ``ref``: (manifest digest,
    ranges it holds)."""
    from wharfie.transports.registry.source import open_remote

    remote = open_remote(ref, options)
    layers = [] if not isinstance(remote, Image) or \
        remote.manifest.artifact_type != ARTIFACT_TYPE else \
        [d for d in remote.manifest.layers if d.media_type == LAYER_TYPE]
    if len(layers) != 1:
        raise InvalidInput(f"{ref} is not a wharfie vulnerability database "
                           f"(artifactType {ARTIFACT_TYPE} with one {LAYER_TYPE} layer)")
    target = db.db_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pull-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, remote.open_blob(layers[0]) as blob:
            h = hashlib.sha256()
            while chunk := blob.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if f"sha256:{h.hexdigest()}" != str(layers[0].digest):
            raise DigestMismatch(f"{ref}: the database layer does not match its digest")
        rows = _record_pull(Path(tmp), f"{ref}@{remote.digest}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return remote.digest, rows


def _record_pull(path: Path, where: str) -> int:
    """Check the pulled file is our database, and add a source row saying where it came
    from; returns the ranges it holds."""
    try:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT count(*) FROM affected").fetchone()[0]
            conn.execute("INSERT INTO sources (path, kind, imported, records) VALUES "
                         "(?, 'oci-pull', ?, ?)", (where, time.time(), rows))
        conn.close()
    except sqlite3.DatabaseError as e:
        raise InvalidInput(f"{where}: not a vulnerability database: {e}") from None
    return rows
