"""Commands that only look at a registry: ``manifest inspect``, ``remote inspect``, ``tags``,
``delete``; each one call of wharfie.api.Client."""

from __future__ import annotations

import json

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import registry_options, tls_flags


@click.group("manifest")
def manifest() -> None:
    """Look at manifests and indexes in a registry."""


@manifest.command("inspect")
@click.argument("name")
@tls_flags
@pass_app
def manifest_inspect(app: App, name: str, tls_verify: bool, insecure: bool,
                     ca_cert: str | None) -> None:
    """Print an image's manifest or index exactly as the registry serves it."""
    raw = app.client_with(registry_options(tls_verify, insecure, ca_cert)).manifest(name)
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
@pass_app
def remote_inspect(app: App, name: str, raw: bool, show_config: bool, platform: str | None,
                   tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Describe a remote image as ``skopeo inspect`` does."""
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    if raw:
        click.echo(client.manifest(name).decode().rstrip("\n"))
        return
    doc = client.inspect_remote(name, platform=platform, config=show_config)
    click.echo(json.dumps(doc, indent=4))


@click.command("tags")
@click.argument("name")
@tls_flags
@pass_app
def tags(app: App, name: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """List a repository's tags, one a line (every page)."""
    for tag in app.client_with(registry_options(tls_verify, insecure, ca_cert)).tags(name):
        click.echo(tag)


@click.command("delete")
@click.argument("name")
@tls_flags
@pass_app
def delete(app: App, name: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Delete a manifest from a registry (by tag: the manifest the tag points at)."""
    from wharfie.oci.reference import parse_reference

    ref = parse_reference(name)
    digest = app.client_with(registry_options(tls_verify, insecure, ca_cert)).delete_remote(ref)
    click.echo(f"Deleted: {ref.name}@{digest}")
