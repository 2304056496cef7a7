"""The store's manifest cache: manifests are served from memory, within a byte budget."""

from __future__ import annotations

import json

from regtest import OCI_MANIFEST

from wharfie.oci.digest import Digest
from wharfie.server.repositories import RegistryStore, blob_key
from wharfie.server.storage.filesystem import FilesystemDriver


def put(store: RegistryStore, n: int) -> tuple[str, bytes]:
    config = json.dumps({"n": n}).encode()
    store.driver.write(blob_key(store_digest(config)), config)
    store.link_blob("c/app", store_digest(config))
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": store_digest(config), "size": len(config)},
                      "annotations": {"pad": "x" * 1000}}).encode()
    doc = store.check_manifest("c/app", raw, OCI_MANIFEST)
    return store.put_manifest("c/app", raw, OCI_MANIFEST, doc, f"t{n}"), raw


def store_digest(data: bytes) -> str:
    return Digest.of(data)


def test_manifests_served_from_a_bounded_cache(tmp_path):
    store = RegistryStore(FilesystemDriver(tmp_path), manifest_cache_bytes=16 * 4096)
    items = [put(store, n) for n in range(80)]
    for digest, raw in items:
        assert store.get_manifest("c/app", digest).raw == raw
    for digest, _ in items:  # the bytes vanish from storage; the newest stay in memory
        store.driver.delete(blob_key(digest))
    served = [store.get_manifest("c/app", d) is not None for d, _ in items]
    assert served[-40:] == [True] * 40 and not served[0]  # ~1.2 KB each: 64 KiB holds ~50
    assert store._cache_bytes <= 16 * 4096
    tiny = RegistryStore(FilesystemDriver(tmp_path / "t"), manifest_cache_bytes=1024)
    digest, raw = put(tiny, 1)
    assert tiny.get_manifest("c/app", digest).raw == raw
    tiny.driver.delete(blob_key(digest))
    assert tiny.get_manifest("c/app", digest) is None  # too big for its budget: not cached
