"""The rest of the distribution API: mounts, indexes, referrers, tags, delete, redirects."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wharfie.errors import NotFound
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor, Index, Manifest
from wharfie.oci.platform import Platform
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image, copy_index
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination
from wharfie.transports.registry.source import RegistryImage, RegistryIndex, open_remote


def test_cross_repo_mount_from_same_registry(anon_registry, make_image, options):
    image = make_image(300_000, 2, raw=True)
    reg = options.registry(anon_registry)
    a = parse_reference(f"{anon_registry}/mount/a:v1")
    copy_image(image, RegistryDestination(reg, a.path), a)

    b = parse_reference(f"{anon_registry}/mount/b:v1")
    dst = RegistryDestination(reg, b.path)
    src = open_remote(a, options)
    assert copy_image(src, dst, b) == image.digest
    assert set(dst.mounted) == {d.digest for d in image.blobs()}
    assert all(repo == "mount/a" for repo in dst.mounted.values())
    assert reg.blob_exists("mount/b", image.manifest.layers[0].digest)


def test_mount_hints_for_local_images(anon_registry, make_image, options):
    """A local image whose blobs are known to be in another repository is mounted, not sent."""
    image = make_image(200_000, raw=True)
    reg = options.registry(anon_registry)
    a = parse_reference(f"{anon_registry}/hints/a:v1")
    copy_image(image, RegistryDestination(reg, a.path), a)
    dst = RegistryDestination(reg, "hints/c", mount_hints=lambda d: ["hints/nowhere", "hints/a"])
    copy_image(image, dst, parse_reference(f"{anon_registry}/hints/c:v1"))
    assert set(dst.mounted) == {d.digest for d in image.blobs()}


def test_multi_arch_index_picks_the_platform(anon_registry, make_image, options, pulled):
    amd = make_image(files=[{"arch": b"amd64"}], compression="gzip", platform="linux/amd64")
    arm = make_image(files=[{"arch": b"arm64"}], compression="gzip", platform="linux/arm64")
    reg = options.registry(anon_registry)
    dst = RegistryDestination(reg, "multi/app")
    for img in (amd, arm):
        copy_image(img, dst)
    index = Index.build([
        Descriptor(mt.OCI_MANIFEST, amd.digest, len(amd.manifest.raw),
                   platform=Platform("linux", "amd64")),
        Descriptor(mt.OCI_MANIFEST, arm.digest, len(arm.manifest.raw),
                   platform=Platform("linux", "arm64", "v8"))])
    ref = parse_reference(f"{anon_registry}/multi/app:v1")
    assert dst.put_manifest(index.raw, index.media_type, ref) == index.digest

    src = open_remote(ref, options)
    assert isinstance(src, RegistryIndex)
    chosen = src.image_for(Platform("linux", "arm64"))
    assert isinstance(chosen, RegistryImage) and chosen.digest == arm.digest
    assert copy_image(chosen, pulled) == arm.digest
    assert not pulled.store.exists(amd.manifest.layers[0].digest)
    with pytest.raises(NotFound, match="no image for platform linux/s390x"):
        src.image_for(Platform("linux", "s390x"))
    # --all: the whole index, every child, digests intact.
    assert copy_index(src, pulled) == index.digest
    assert pulled.store.exists(amd.manifest.layers[0].digest)


def test_referrers_tag_schema_fallback(anon_registry, make_image, store, options):
    image = make_image(files=[{"a": b"b"}], compression="gzip")
    reg = options.registry(anon_registry)
    dst = RegistryDestination(reg, "refs/app")
    ref = parse_reference(f"{anon_registry}/refs/app:v1")
    copy_image(image, dst, ref)
    empty = store.put(b"{}")
    sig = Manifest.build(Descriptor(mt.OCI_EMPTY, empty, 2), [],
                         subject=Descriptor(mt.OCI_MANIFEST, image.digest,
                                            len(image.manifest.raw)))
    dst.has_blob(Descriptor(mt.OCI_EMPTY, empty, 2)) or reg.upload_blob(
        "refs/app", Descriptor(mt.OCI_EMPTY, empty, 2), store.open(empty), lambda n: None)
    dst.put_manifest(sig.raw, sig.media_type, None)
    found = reg.referrers("refs/app", image.digest)
    assert [d.digest for d in found.manifests] == [sig.digest]
    assert found.manifests[0].artifact_type == mt.OCI_EMPTY
    assert reg.referrers("refs/app", Digest.of(b"nothing")).manifests == ()


def test_tags_paginated_and_delete(anon_registry, small_image, options):
    reg = options.registry(anon_registry)
    dst = RegistryDestination(reg, "tags/app")
    for t in ("a", "b", "c"):
        copy_image(small_image, dst, parse_reference(f"{anon_registry}/tags/app:{t}"))
    assert sorted(reg.tags("tags/app", page_size=2)) == ["a", "b", "c"]
    desc = reg.head_manifest("tags/app", "b")
    assert desc is not None and desc.digest == small_image.digest
    reg.delete_manifest("tags/app", desc.digest)
    with pytest.raises(NotFound, match="manifest unknown"):
        reg.get_manifest("tags/app", "a")
    assert reg.head_manifest("tags/app", "c") is None


def test_redirect_to_other_host_drops_credentials(basic_registry, fault_proxy, make_image, store, alice,
                                                  pulled, docker_config):
    image = make_image(files=[{"r": b"redirected"}], compression="gzip")
    layer = image.manifest.layers[0]
    seen: list[str | None] = []

    class Blob(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            assert self.path == "/cdn/blob?sig=a%2Fb&x=1"  # Location followed as given
            data = store.read(layer.digest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    cdn = ThreadingHTTPServer(("127.0.0.1", 0), Blob)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    try:
        opts = RegistryOptions(credentials=alice, backoff=0.05)
        copy_image(image, RegistryDestination(opts.registry(basic_registry), "redir/app"),
                   parse_reference(f"{basic_registry}/redir/app:v1"))
        proxy = fault_proxy(basic_registry)
        where = f"http://localhost:{cdn.server_address[1]}/cdn/blob?sig=a%2Fb&x=1"
        proxy.faults.append(lambda m, p, h, n: ("status", 307, {"Location": where})
                            if m == "GET" and layer.digest in p else None)
        src = open_remote(parse_reference(f"{proxy.host}/redir/app:v1"),
                          RegistryOptions(credentials=alice))
        assert copy_image(src, pulled) == image.digest
        assert seen == [None]
        # The registry itself did get the credentials.
        assert any(r[0] == "GET" and "manifests" in r[1] for r in proxy.log)
    finally:
        cdn.shutdown()
