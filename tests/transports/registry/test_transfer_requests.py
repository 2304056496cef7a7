"""The requests a pull sends, counted at a real HTTP peer in front of docker-registry."""

from __future__ import annotations

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
