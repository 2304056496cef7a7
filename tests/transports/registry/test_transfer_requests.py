"""The requests a pull sends, counted at a real HTTP peer in front of docker-registry."""

from __future__ import annotations

import threading
from collections import Counter

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.pull import pull_image
from wharfie.transports.registry.destination import RegistryDestination


def test_pull_gets_each_blob_once(anon_registry, fault_proxy, small_image, options, tmp_path):
    ref = parse_reference(f"{anon_registry}/requests/once:v1")
    copy_image(small_image, RegistryDestination(options.registry(anon_registry), ref.path), ref)
    proxy = fault_proxy(anon_registry)
    images = ImageStore(tmp_path / "root")
    result = pull_image(images, parse_reference(f"{proxy.host}/requests/once:v1"), options)
    assert result.digest == small_image.digest
    gets = Counter(path.rsplit("/", 1)[1] for _, path, _ in proxy.requests("GET", "blobs"))
    # the config too: a single-platform image is not read before the copy fetches it
    assert gets == {str(d.digest): 1 for d in small_image.blobs()}
    for desc in small_image.blobs():
        assert images.content.verify(desc.digest)


def test_pull_downloads_while_the_store_opens(anon_registry, fault_proxy, small_image,
                                              make_image, options, tmp_path, monkeypatch):
    """Blob requests do not wait for the store (a new one is made: schema, fsyncs); the
    tag still moves only after what it named before is read, so ``updated`` is right."""
    ref = parse_reference(f"{anon_registry}/requests/overlap:v1")
    dest = RegistryDestination(options.registry(anon_registry), ref.path)
    copy_image(small_image, dest, ref)
    proxy = fault_proxy(anon_registry)
    first_blob = threading.Event()
    layers = {str(d.digest) for d in small_image.manifest.layers}
    proxy.on_request = lambda method, path: (method == "GET" and path.rsplit("/", 1)[1]
                                             in layers and first_blob.set())
    seen: list[bool] = []
    real_lookup = ImageStore.lookup

    def lookup(self, name):  # the real lookup, once a layer request is under way (or 5 s)
        seen.append(first_blob.wait(5))
        return real_lookup(self, name)

    monkeypatch.setattr(ImageStore, "lookup", lookup)
    images = ImageStore(tmp_path / "root")
    pulled = parse_reference(f"{proxy.host}/requests/overlap:v1")
    assert pull_image(images, pulled, options).updated
    assert seen == [True]
    assert not pull_image(images, pulled, options).updated  # the same image: up to date
    other = make_image(files=[{"etc/c": b"c"}], compression="gzip")
    copy_image(other, dest, ref)  # the tag moves in the registry
    result = pull_image(images, pulled, options)
    assert result.updated and images.lookup(str(pulled)) == other.digest
