"""Issue 15: push compresses uncompressed layers (``docker save`` archives load that way) as
docker does, remembers diffID -> compressed digest so a second push sends nothing and other
repositories mount, and takes podman's ``--compression-format`` and ``--force-compression``."""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.request

import zstandard
from tests.transports.archive_samples import old_docker_save

from wharfie.testing.random import random_bytes, tar_layer


def lines(res) -> list[str]:
    return res.stdout.decode().splitlines()


def registry_manifest(host: str, repo: str, tag: str) -> dict:
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def registry_blob(host: str, repo: str, digest: str) -> bytes:
    with urllib.request.urlopen(f"http://{host}/v2/{repo}/blobs/{digest}") as resp:
        return resp.read()


def load_uncompressed(wharfie, tmp_path, busybox_rootfs_tar, ref: str) -> list[bytes]:
    """``ref`` loaded from a pre-25 docker save (two uncompressed layers); its layer tars."""
    tars = [busybox_rootfs_tar.read_bytes(),
            tar_layer({"data/text": b"all work and no play\n" * 20000,
                       "data/random": random_bytes(50_000, seed=7)})]
    archive, _ = old_docker_save(tars, [ref])
    (tmp_path / "saved.tar").write_bytes(archive)
    wharfie("load", "-i", str(tmp_path / "saved.tar"))
    return tars


def test_push_gzips_uncompressed_layers_and_a_second_push_sends_nothing(
        wharfie, tmp_path, busybox_rootfs_tar, anon_registry):
    ref = f"{anon_registry}/compress/app:1"
    tars = load_uncompressed(wharfie, tmp_path, busybox_rootfs_tar, ref)
    first = lines(wharfie("push", ref))
    assert sum(x.endswith(": Pushed") for x in first) == 2  # the layers (config unshown)
    assert {x.split(":")[0] for x in first if x.endswith(": Pushed")} == {
        hashlib.sha256(t).hexdigest()[:12] for t in tars}  # named by diffID, as docker does
    manifest = registry_manifest(anon_registry, "compress/app", "1")
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    for layer, tar in zip(manifest["layers"], tars, strict=True):
        assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        blob = registry_blob(anon_registry, "compress/app", layer["digest"])
        assert hashlib.sha256(gzip.decompress(blob)).digest() == hashlib.sha256(tar).digest()
        docker_size = len(gzip.compress(tar, mtime=0))  # Go's default level, as docker's
        assert layer["size"] == len(blob) < 0.8 * len(tar)
        assert 0.8 * docker_size < layer["size"] < 1.25 * docker_size, (layer["size"],
                                                                         docker_size)

    again = lines(wharfie("push", ref))
    assert [x.split(": ", 1)[1] for x in again[1:-1]] == ["Layer already exists"] * 2
    assert again[-1] == first[-1]  # the same compressed digests, so the same manifest
    other = f"{anon_registry}/compress/other:1"
    wharfie("tag", ref, other)
    mounted = lines(wharfie("push", other))
    assert sum(x.endswith(": Mounted from compress/app") for x in mounted) == 2


def test_compression_format_and_force_compression(wharfie, tmp_path, busybox_rootfs_tar,
                                                  anon_registry):
    ref = f"{anon_registry}/compress/fmt:1"
    tars = load_uncompressed(wharfie, tmp_path, busybox_rootfs_tar, ref)
    wharfie("push", "--compression-format", "none", ref)
    plain = registry_manifest(anon_registry, "compress/fmt", "1")
    assert [x["mediaType"] for x in plain["layers"]] == [
        "application/vnd.docker.image.rootfs.diff.tar"] * 2
    assert [x["size"] for x in plain["layers"]] == [len(t) for t in tars]

    zst = f"{anon_registry}/compress/zst:1"
    wharfie("tag", ref, zst)
    wharfie("push", "--compression-format", "zstd", zst)
    doc = registry_manifest(anon_registry, "compress/zst", "1")
    assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    blob = registry_blob(anon_registry, "compress/zst", doc["layers"][1]["digest"])
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == tars[1]

    wharfie("import", str(busybox_rootfs_tar), f"{anon_registry}/compress/gz:1")  # gzip
    wharfie("push", "--compression-format", "zstd", f"{anon_registry}/compress/gz:1")
    kept = registry_manifest(anon_registry, "compress/gz", "1")["layers"][0]["mediaType"]
    assert kept == "application/vnd.oci.image.layer.v1.tar+gzip"
    wharfie("push", "--compression-format", "zstd", "--force-compression",
            f"{anon_registry}/compress/gz:1")
    forced = registry_manifest(anon_registry, "compress/gz", "1")["layers"][0]["mediaType"]
    assert forced == "application/vnd.oci.image.layer.v1.tar+zstd"
    bad = wharfie("push", "--compression-format", "lz4", ref, check=False)
    assert bad.returncode == 1 and "'lz4' is not one of 'gzip', 'zstd', 'none'" in \
        bad.stderr.decode()


def test_copy_names_a_docker_config_a_config(wharfie, tmp_path, busybox_rootfs_tar,
                                              anon_registry):
    """skopeo's ``Copying config`` line also for Docker's config media type."""
    ref = f"{anon_registry}/compress/copied:1"
    load_uncompressed(wharfie, tmp_path, busybox_rootfs_tar, ref)
    copied = lines(wharfie("copy", f"wharfie:{ref}", f"oci:{tmp_path}/layout:1"))
    config = wharfie("inspect", "-f", "{{.Id}}", ref).stdout.decode().strip()
    assert f"Copying config {config}" in copied
    assert sum(x.startswith("Copying blob ") for x in copied) == 2


def test_copy_to_a_registry_gzips_uncompressed_layers_as_skopeo(
        wharfie, tmp_path, busybox_rootfs_tar, anon_registry):
    """``copy wharfie:REF docker://...`` and ``copy oci:DIR docker://...`` send uncompressed
    layers gzipped, as skopeo and ``push`` do; ``copy`` to an OCI layout keeps them as they
    are."""
    ref = f"{anon_registry}/compress/copied:1"
    tars = load_uncompressed(wharfie, tmp_path, busybox_rootfs_tar, ref)
    wharfie("copy", f"wharfie:{ref}", f"docker://{anon_registry}/compress/viacopy:1")
    wharfie("copy", f"wharfie:{ref}", f"oci:{tmp_path / 'layout'}:1")
    layout_index = json.loads((tmp_path / "layout" / "index.json").read_text())
    manifest_digest = layout_index["manifests"][0]["digest"].split(":")[1]
    layout_manifest = json.loads(
        (tmp_path / "layout" / "blobs" / "sha256" / manifest_digest).read_text())
    assert all(not x["mediaType"].endswith("gzip") for x in layout_manifest["layers"])
    wharfie("copy", f"oci:{tmp_path / 'layout'}:1", f"docker://{anon_registry}/compress/fromoci:1")
    for repo in ("compress/viacopy", "compress/fromoci"):
        manifest = registry_manifest(anon_registry, repo, "1")
        for layer, tar in zip(manifest["layers"], tars, strict=True):
            assert layer["mediaType"].endswith("gzip"), layer
            blob = registry_blob(anon_registry, repo, layer["digest"])
            assert gzip.decompress(blob) == tar
