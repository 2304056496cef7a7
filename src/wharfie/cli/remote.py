"""Commands that only look at a registry: ``manifest inspect``, ``remote inspect``, ``tags``,
``delete``. (``inspect --remote`` of the images team should call ``remote_inspect_doc``.)"""

from __future__ import annotations

import json

import click

from wharfie.cli.transfer import registry_options, tls_flags
from wharfie.errors import NotFound
from wharfie.oci.image import ImageIndex
from wharfie.oci.platform import host_platform, parse_platform
from wharfie.oci.reference import parse_reference
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.source import open_remote


@click.group("manifest")
def manifest() -> None:
    """Look at manifests and indexes in a registry."""


@manifest.command("inspect")
@click.argument("name")
@tls_flags
def manifest_inspect(name: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Print an image's manifest or index exactly as the registry serves it."""
    ref = parse_reference(name)
    remote = open_remote(ref, registry_options(tls_verify, insecure, ca_cert))
    raw = remote.index_bytes()[0] if isinstance(remote, ImageIndex) else remote.manifest_bytes()[0]
    click.echo(raw.decode().rstrip("\n"))


@click.group("remote")
def remote() -> None:
    """Look at images in a registry without pulling them."""


@remote.command("inspect")
@click.argument("name")
@click.option("--raw", is_flag=True, help="The manifest or index bytes, unparsed.")
@click.option("--config", "show_config", is_flag=True, help="The image configuration.")
@click.option("--platform", help="The image to describe from an index (default: the host's).")
@tls_flags
def remote_inspect(name: str, raw: bool, show_config: bool, platform: str | None,
                   tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Describe a remote image as ``skopeo inspect`` does."""
    opts = registry_options(tls_verify, insecure, ca_cert)
    ref = parse_reference(name)
    if raw:
        remote_obj = open_remote(ref, opts)
        data = remote_obj.index_bytes()[0] if isinstance(remote_obj, ImageIndex) \
            else remote_obj.manifest_bytes()[0]
        click.echo(data.decode().rstrip("\n"))
        return
    doc = remote_inspect_doc(name, opts, platform=platform, config=show_config)
    click.echo(json.dumps(doc, indent=4))


def remote_inspect_doc(name: str, opts: RegistryOptions, *, platform: str | None = None,
                       config: bool = False) -> dict:
    """skopeo inspect's JSON for ``name`` (or the image config with ``config``)."""
    ref = parse_reference(name)
    remote_obj = open_remote(ref, opts)
    image = remote_obj.image_for(parse_platform(platform) if platform else host_platform()) \
        if isinstance(remote_obj, ImageIndex) else remote_obj
    if config:
        return json.loads(image.config.raw)
    cfg = image.config
    registry = opts.registry(ref.domain)
    return {
        "Name": ref.name,
        "Digest": remote_obj.digest,
        "RepoTags": list(registry.tags(ref.path)),
        "Created": cfg.created,
        "DockerVersion": cfg.doc.get("docker_version", ""),
        "Labels": cfg.labels or None,
        "Architecture": cfg.platform.architecture,
        "Os": cfg.platform.os,
        "Layers": [d.digest for d in image.manifest.layers],
        "LayersData": [{"MIMEType": d.media_type, "Digest": d.digest, "Size": d.size,
                        "Annotations": d.annotations or None}
                       for d in image.manifest.layers],
        "Env": cfg.config.get("Env"),
    }


@click.command("tags")
@click.argument("name")
@tls_flags
def tags(name: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """List a repository's tags, one a line (every page)."""
    ref = parse_reference(name, default_tag=False)
    registry = registry_options(tls_verify, insecure, ca_cert).registry(ref.domain)
    for tag in registry.tags(ref.path):
        click.echo(tag)


@click.command("delete")
@click.argument("name")
@tls_flags
def delete(name: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Delete a manifest from a registry (by tag: the manifest the tag points at)."""
    ref = parse_reference(name)
    registry = registry_options(tls_verify, insecure, ca_cert).registry(ref.domain)
    digest = ref.digest
    if digest is None:
        desc = registry.head_manifest(ref.path, ref.identifier)
        if desc is None:
            raise NotFound(f"{ref.familiar()}: manifest unknown")
        digest = desc.digest
    registry.delete_manifest(ref.path, digest)
    click.echo(f"Deleted: {ref.name}@{digest}")
