"""The same verb behaves the same whatever the route: ``copy`` to and from a registry leaves
the trace ``pull`` leaves and mounts as ``push`` does, and a build's FROM pull takes the
caller's registry options (a real docker-registry on 127.0.0.1 each time)."""

from __future__ import annotations

from wharfie.builder import BuildOptions, build
from wharfie.images.imagestore import ImageStore
from wharfie.images.provenance import BlobProvenance
from wharfie.oci.platform import host_platform
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.copy import Endpoints, copy
from wharfie.transports.names import parse_name
from wharfie.transports.pull import pull_image
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination


def _push(image, host: str, name: str, options: RegistryOptions) -> None:
    ref = parse_reference(f"{host}/{name}")
    copy_image(image, RegistryDestination(options.registry(host), ref.path), ref)


def _env(images: ImageStore, options: RegistryOptions, tmp_path) -> Endpoints:
    return Endpoints(images=lambda: images, options=options, scratch=tmp_path / "scratch")


def test_copy_from_a_registry_records_provenance_as_pull_does(anon_registry, make_image,
                                                              options, tmp_path):
    image = make_image(files=[{"etc/a": b"a"}, {"etc/b": b"b"}], compression="gzip")
    _push(image, anon_registry, "routes/src:v1", options)
    by_copy, by_pull = ImageStore(tmp_path / "copy"), ImageStore(tmp_path / "pull")

    copy(parse_name(f"docker://{anon_registry}/routes/src:v1"), parse_name("wharfie:app:v1"),
         _env(by_copy, options, tmp_path))
    pull_image(by_pull, parse_reference(f"{anon_registry}/routes/src:v1"), options)

    for desc in image.blobs():
        assert BlobProvenance(by_copy.root).repos(anon_registry, desc.digest) == \
            BlobProvenance(by_pull.root).repos(anon_registry, desc.digest) == ["routes/src"]


def test_copy_to_a_registry_mounts_as_push_does(anon_registry, make_image, options, tmp_path):
    image = make_image(files=[{"etc/a": b"a"}, {"etc/b": b"b"}], compression="gzip")
    _push(image, anon_registry, "routes/base:v1", options)
    images = ImageStore(tmp_path / "root")
    pull_image(images, parse_reference(f"{anon_registry}/routes/base:v1"), options)
    events: list[str] = []

    digest = copy(parse_name(f"wharfie:{anon_registry}/routes/base:v1"),
                  parse_name(f"docker://{anon_registry}/routes/app:v1"),
                  _env(images, options, tmp_path), progress=lambda e, d, n: events.append(e))

    assert digest == image.digest
    assert events == ["skip"] * 3  # config and both layers mounted from routes/base
    for desc in image.blobs():  # and, as after a push, known to be in routes/app too
        assert "routes/app" in BlobProvenance(images.root).repos(anon_registry, desc.digest)


def test_build_pulls_its_base_with_the_callers_tls_options(tls_registry, make_image, tmp_path):
    host, cert = tls_registry
    trusting = RegistryOptions(ca_cert=str(cert), backoff=0.05)
    base = make_image(files=[{"etc/base": b"base"}], compression="gzip",
                      platform=str(host_platform()))
    _push(base, host, "routes/tlsbase:v1", trusting)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {host}/routes/tlsbase:v1\n"
                                                 'LABEL built="yes"\n')
    images = ImageStore(tmp_path / "root")

    result = build(images, BuildOptions(tmp_path / "ctx", tags=["routes/built:1"]),
                   registries=trusting)

    assert images.lookup(f"{host}/routes/tlsbase:v1") == base.digest
    assert images.resolve("routes/built:1").id == result.image_id
    layer = base.manifest.layers[0].digest  # recorded as a pull records it
    assert BlobProvenance(images.root).repos(host, layer) == ["routes/tlsbase"]
