"""Push and pull through the client against the real docker-registry in its four set-ups."""

from __future__ import annotations

import pytest

from wharfie.errors import WharfieError
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination
from wharfie.transports.registry.source import RegistryImage, open_remote


def roundtrip(image, ref_text: str, push_opts: RegistryOptions, pull_opts: RegistryOptions,
              pulled) -> None:
    """Push ``image``, pull it into a fresh store, and compare every blob's bytes."""
    ref = parse_reference(ref_text)
    dst = RegistryDestination(push_opts.registry(ref.domain), ref.path)
    assert copy_image(image, dst, ref) == image.digest

    src = open_remote(ref, pull_opts)
    assert isinstance(src, RegistryImage)
    assert src.manifest_bytes()[0] == image.manifest_bytes()[0]
    assert copy_image(src, pulled, ref) == image.digest
    for desc in image.blobs():
        assert pulled.store.read(desc.digest) == image.read_blob(desc)
    assert pulled.tags[str(ref)] == image.digest


def test_anonymous(anon_registry, busybox, options, pulled):
    roundtrip(busybox, f"{anon_registry}/setups/anon:v1", options, RegistryOptions(), pulled)
    reg = options.registry(anon_registry)
    assert reg.base() == f"http://{anon_registry}"  # loopback: plain HTTP by default
    assert reg._challenge is None


def test_htpasswd_basic(basic_registry, small_image, alice, pulled, docker_config):
    opts = RegistryOptions(credentials=alice)
    roundtrip(small_image, f"{basic_registry}/setups/basic:v1", opts,
              RegistryOptions(credentials=alice), pulled)
    assert opts.registry(basic_registry)._challenge.scheme == "basic"


def test_htpasswd_without_credentials_names_login(basic_registry, docker_config):
    ref = parse_reference(f"{basic_registry}/setups/basic:v1")
    with pytest.raises(WharfieError, match=f"run `wharfie login {basic_registry}`"):
        open_remote(ref, RegistryOptions())


def test_htpasswd_wrong_password(basic_registry, docker_config):
    from wharfie.transports.registry.credentials import Credentials

    ref = parse_reference(f"{basic_registry}/setups/basic:v1")
    with pytest.raises(WharfieError, match="unauthorized"):
        open_remote(ref, RegistryOptions(credentials=Credentials("alice", "nope")))


def test_token_auth(token_registry, token_server, small_image, alice, pulled, docker_config):
    opts = RegistryOptions(credentials=alice)
    token_server.issued.clear()
    roundtrip(small_image, f"{token_registry}/setups/token:v1", opts, RegistryOptions(),
              pulled)
    push_scopes = [s for s in token_server.issued if s == ["repository:setups/token:pull,push"]]
    # Tokens are cached per scope: one for the whole push (3 blobs + manifest), not one each.
    assert len(push_scopes) == 1, token_server.issued
    # The anonymous puller got pull-only tokens and could still read.
    assert ["repository:setups/token:pull"] in token_server.issued


def test_token_anonymous_push_denied(token_registry, small_image, docker_config):
    ref = parse_reference(f"{token_registry}/setups/token-anon:v1")
    dst = RegistryDestination(RegistryOptions().registry(ref.domain), ref.path)
    with pytest.raises(WharfieError, match="wharfie login"):
        copy_image(small_image, dst, ref)


def test_token_refreshed_when_expired(token_registry, token_server, small_image, alice,
                                      docker_config):
    """A cached token the registry no longer accepts is dropped and fetched again."""
    opts = RegistryOptions(credentials=alice)
    ref = parse_reference(f"{token_registry}/setups/token-refresh:v1")
    reg = opts.registry(ref.domain)
    copy_image(small_image, RegistryDestination(reg, ref.path), ref)
    key = "repository:setups/token-refresh:pull"
    reg._tokens.put(key, "not-a-valid-token", 300)
    before = len(token_server.issued)
    assert reg.get_manifest(ref.path, "v1")[0] == small_image.manifest_bytes()[0]
    assert len(token_server.issued) == before + 1


def test_tls_with_ca_cert(tls_registry, small_image, pulled):
    host, cert = tls_registry
    opts = RegistryOptions(ca_cert=str(cert))
    roundtrip(small_image, f"{host}/setups/tls:v1", opts, RegistryOptions(ca_cert=str(cert)),
              pulled)
    assert opts.registry(host).base() == f"https://{host}"


def test_tls_untrusted_is_refused_with_hint(tls_registry):
    host, _ = tls_registry
    ref = parse_reference(f"{host}/setups/tls:v1")
    with pytest.raises(WharfieError, match="--ca-cert"):
        open_remote(ref, RegistryOptions())


def test_tls_verify_false(tls_registry, small_image, pulled):
    host, _ = tls_registry
    opts = RegistryOptions(insecure=True)
    roundtrip(small_image, f"{host}/setups/tls-insecure:v1", opts, opts, pulled)
    assert opts.registry(host).base() == f"https://{host}"
