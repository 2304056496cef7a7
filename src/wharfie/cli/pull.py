"""``wharfie pull``: Docker's flags and output, over ``Client.pull_result``."""

from __future__ import annotations

import click

from wharfie.api import Client
from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import LayerProgress, interruptible, registry_options, tls_flags
from wharfie.errors import NotFound, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.reference import Reference, parse_reference


@click.command("pull")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository.")
@click.option("--platform", help="Pull the image for this platform (os/arch[/variant]).")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--max-concurrent-downloads", type=click.IntRange(1, 64), default=4,
              show_default=True, help="Blobs downloaded at once.")
@tls_flags
@pass_app
def pull(app: App, name: str, all_tags: bool, platform: str | None, quiet: bool,
         max_concurrent_downloads: int, tls_verify: bool, insecure: bool,
         ca_cert: str | None) -> None:
    """Download an image from a registry into the local store."""
    ref = parse_reference(name, default_tag=False)
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert,
                                              max_concurrent_downloads))
    if all_tags:
        if ref.tag or ref.digest:
            raise WharfieError("tag can't be used with --all-tags/-a")
        tags = sorted(client.tags(ref))
        if not tags:
            raise NotFound(f"{ref.familiar_name}: the repository has no tags")
        for tag in tags:
            pull_one(client, ref.with_tag(tag), platform, quiet)
        if not quiet:
            click.echo(ref.name)
        return
    if not ref.tag and not ref.digest:
        if not quiet:
            click.echo("Using default tag: latest")
        ref = ref.with_tag("latest")
    pull_one(client, ref, platform, quiet)
    click.echo(str(ref))


def pull_one(client: Client, ref: Reference, platform: str | None, quiet: bool) -> Digest:
    """Pull one tag or digest; prints Docker's per-layer lines, then Digest and Status."""
    if not quiet:
        click.echo(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
    view = LayerProgress("pull", None, quiet=quiet)
    with interruptible():
        try:
            result = client.pull_result(ref, platform=platform, progress=view)
        finally:
            view.close()
    if result.updated:
        view.show_held()
    if not quiet:
        click.echo(f"Digest: {result.remote_digest}")
        fresh = "Downloaded newer image for" if result.updated else "Image is up to date for"
        click.echo(f"Status: {fresh} {ref.familiar()}")
    return result.digest
