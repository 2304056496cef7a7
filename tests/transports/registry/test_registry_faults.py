"""Retries, resumes and refusals, through a fault-injecting proxy in front of docker-registry."""

from __future__ import annotations

import threading
import time

import pytest

from wharfie.errors import DigestMismatch, WharfieError
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination
from wharfie.transports.registry.source import open_remote


def push(image, host: str, repo: str, opts: RegistryOptions) -> None:
    ref = parse_reference(f"{host}/{repo}:v1")
    assert copy_image(image, RegistryDestination(opts.registry(host), ref.path), ref) \
        == image.digest


def test_5xx_retried(anon_registry, fault_proxy, small_image, options, pulled):
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("status", 503) if m == "GET" and "manifests" in p
                        and n <= 2 else None)
    push(small_image, anon_registry, "faults/five", options)
    src = open_remote(parse_reference(f"{proxy.host}/faults/five:v1"), options)
    assert copy_image(src, pulled) == small_image.digest
    assert len(proxy.requests("GET", "manifests")) == 3


def test_429_honours_retry_after(anon_registry, fault_proxy, small_image, options):
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("status", 429, {"Retry-After": "1"})
                        if m == "HEAD" and n == 1 else None)
    t0 = time.monotonic()
    push(small_image, proxy.host, "faults/429", options)
    assert time.monotonic() - t0 >= 1.0  # the backoff alone would be 0.05 s
    assert len(proxy.requests("HEAD", "blobs")) == len(list(small_image.blobs())) + 1


def test_dropped_download_resumes_with_range(anon_registry, fault_proxy, busybox, options,
                                             pulled):
    push(busybox, anon_registry, "faults/drop", options)
    layer = busybox.manifest.layers[0]
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("drop-mid-body", layer.size // 2)
                        if m == "GET" and layer.digest in p and not h.get("Range") else None)
    src = open_remote(parse_reference(f"{proxy.host}/faults/drop:v1"), options)
    assert copy_image(src, pulled) == busybox.digest
    gets = [r for r in proxy.requests("GET", "blobs") if layer.digest in r[1]]
    assert [r[2] for r in gets] == [None, f"bytes={layer.size // 2}-"]
    assert pulled.store.verify(layer.digest)


def test_a_resume_dropped_again_before_its_offset_is_retried(anon_registry, fault_proxy,
                                                            busybox, options, pulled):
    """A server that ignores Range sends the whole blob again; the prefix is read and thrown
    away, and a drop there is one more failure to retry, not an error of its own."""
    push(busybox, anon_registry, "faults/skip", options)
    layer = busybox.manifest.layers[0]
    proxy = fault_proxy(anon_registry)
    half, quarter = layer.size // 2, layer.size // 4
    gets = iter(range(1, 100))

    def fault(m, p, h, n):
        if m != "GET" or layer.digest not in p:
            return None
        return {1: ("drop-mid-body", half), 2: ("ignore-range", quarter)}.get(next(gets))

    proxy.faults.append(fault)
    src = open_remote(parse_reference(f"{proxy.host}/faults/skip:v1"), options)
    assert copy_image(src, pulled) == busybox.digest
    gets = [r for r in proxy.requests("GET", "blobs") if layer.digest in r[1]]
    assert [r[2] for r in gets] == [None, f"bytes={half}-", f"bytes={half}-"]
    assert pulled.store.verify(layer.digest)


def test_corrupted_blob_refused_and_nothing_stored(anon_registry, fault_proxy, busybox,
                                                   options, pulled):
    push(busybox, anon_registry, "faults/corrupt", options)
    layer = busybox.manifest.layers[0]
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("corrupt",) if m == "GET" and layer.digest in p
                        else None)
    src = open_remote(parse_reference(f"{proxy.host}/faults/corrupt:v1"), options)
    with pytest.raises(DigestMismatch):
        copy_image(src, pulled, parse_reference(f"{proxy.host}/faults/corrupt:v1"))
    assert not pulled.store.exists(layer.digest)
    assert list(pulled.store.ingest_dir.iterdir()) == []
    assert pulled.tags == {}


def test_corrupted_manifest_refused(anon_registry, fault_proxy, small_image, options):
    push(small_image, anon_registry, "faults/corrupt-manifest", options)
    proxy = fault_proxy(anon_registry)
    proxy.faults.append(lambda m, p, h, n: ("corrupt",) if "manifests" in p else None)
    ref = parse_reference(f"{proxy.host}/faults/corrupt-manifest@{small_image.digest}")
    with pytest.raises(DigestMismatch, match="manifest digest mismatch"):
        open_remote(ref, options)


def test_chunked_upload_resumes_after_failed_patch(anon_registry, fault_proxy, make_image,
                                                   pulled):
    image = make_image(5 << 20 | 123, raw=True)
    proxy = fault_proxy(anon_registry)
    # The third PATCH fails without reaching the registry, the fourth is cut off: both resume.
    proxy.faults.append(lambda m, p, h, n: ("status", 500) if m == "PATCH" and n == 3 else None)
    proxy.faults.append(lambda m, p, h, n: ("close",) if m == "PATCH" and n == 4 else None)
    opts = RegistryOptions(backoff=0.05, chunk_size=1 << 20, file_chunk_size=1 << 20)
    push(image, proxy.host, "faults/chunks", opts)
    patches = proxy.requests("PATCH", "uploads")
    assert len(patches) == 6 + 2  # 6 chunks of 1 MiB, two of them sent twice
    src = open_remote(parse_reference(f"{anon_registry}/faults/chunks:v1"), options_plain())
    assert copy_image(src, pulled) == image.digest


def options_plain() -> RegistryOptions:
    return RegistryOptions(backoff=0.05)


def test_registry_killed_mid_push_and_restarted(docker_registry_factory, fault_proxy, make_image,
                                                pulled):
    reg = docker_registry_factory()
    image = make_image(4 << 20, raw=True)
    proxy = fault_proxy(reg.host)

    def kill_on_second_patch(method, path, headers, n):
        if method == "PATCH" and n == 2:
            reg.stop(kill=True)  # the registry dies mid-push; it is back a second later
            threading.Timer(1.0, reg.start).start()
            return ("close",)
        return None
    proxy.faults.append(kill_on_second_patch)
    t0 = time.monotonic()
    push(image, proxy.host, "faults/restart", RegistryOptions(backoff=0.1, chunk_size=1 << 20, file_chunk_size=1 << 20))
    assert time.monotonic() - t0 >= 1.0
    assert len(proxy.requests("PATCH", "uploads")) >= 5
    src = open_remote(parse_reference(f"{reg.host}/faults/restart:v1"), options_plain())
    assert copy_image(src, pulled) == image.digest


def test_unreachable_registry_is_one_clear_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = RegistryOptions(backoff=0.01, retries=2)
    with pytest.raises(WharfieError, match="cannot connect to the registry: connection refused"):
        open_remote(parse_reference(f"127.0.0.1:{port}/x:y"), opts)


def test_registry_to_registry_chunks_a_stream(anon_registry, docker_registry, fault_proxy,
                                              make_image, pulled):
    """A source that cannot seek (another registry) is buffered a chunk at a time."""
    image = make_image(3 << 20 | 5, raw=True)
    push(image, anon_registry, "faults/r2r", options_plain())
    src = open_remote(parse_reference(f"{anon_registry}/faults/r2r:v1"), options_plain())
    proxy = fault_proxy(docker_registry)
    proxy.faults.append(lambda m, p, h, n: ("close",) if m == "PATCH" and n == 2 else None)
    opts = RegistryOptions(backoff=0.05, chunk_size=1 << 20)
    ref = parse_reference(f"{proxy.host}/faults/r2r:v1")
    assert copy_image(src, RegistryDestination(opts.registry(proxy.host), ref.path), ref) \
        == image.digest
    assert len(proxy.requests("PATCH", "uploads")) == 4 + 1
    back = open_remote(parse_reference(f"{docker_registry}/faults/r2r:v1"), options_plain())
    assert copy_image(back, pulled) == image.digest


def test_token_expiring_mid_upload_is_renewed_and_chunk_resent(
        token_registry, token_server, fault_proxy, make_image, alice, docker_config, pulled):
    image = make_image(3 << 20, raw=True)
    proxy = fault_proxy(token_registry)
    challenge = (f'Bearer realm="{token_server.realm}",service="{token_server.service}",'
                 'scope="repository:faults/expiry:pull,push",error="invalid_token"')
    proxy.faults.append(lambda m, p, h, n: ("status", 401, {"WWW-Authenticate": challenge})
                        if m == "PATCH" and n == 2 else None)
    before = len(token_server.issued)
    opts = RegistryOptions(credentials=alice, backoff=0.05, chunk_size=1 << 20,
                           file_chunk_size=1 << 20)
    push(image, proxy.host, "faults/expiry", opts)
    assert len(proxy.requests("PATCH", "uploads")) == 3 + 1
    push_tokens = [s for s in token_server.issued[before:]
                   if s == ["repository:faults/expiry:pull,push"]]
    assert len(push_tokens) == 2  # the first, and the one after the 401
    src = open_remote(parse_reference(f"{token_registry}/faults/expiry:v1"),
                      RegistryOptions(credentials=alice))
    assert copy_image(src, pulled) == image.digest


def test_retry_after_http_date():
    from wharfie.transports.registry.session import _retry_after

    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    assert 3.5 < _retry_after(when) <= 5.0
    assert _retry_after("7") == 7.0
    assert _retry_after("soon") is None
