"""``wharfie push``: Docker's flags and output, over ``Client.push``."""

from __future__ import annotations

import click

from wharfie.api import Client
from wharfie.cli.completion import complete_images
from wharfie.cli.context import App, pass_app
from wharfie.cli.sign import password_for
from wharfie.cli.transfer import LayerProgress, interruptible, registry_options, tls_flags
from wharfie.errors import NotFound, WharfieError
from wharfie.oci.digest import Digest
from wharfie.oci.reference import Reference, parse_reference


@click.command("push")
@click.argument("name", shell_complete=complete_images)
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--max-concurrent-uploads", type=click.IntRange(1, 64), default=4,
              show_default=True, help="Blobs uploaded at once.")
@click.option("--sign-by", type=click.Path(dir_okay=False),
              help="Sign what is pushed with this private key (cosign's layout).")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd", "none"]),
              default="gzip", show_default=True,
              help="Compress uncompressed layers with this format (none: send them as they are).")
@click.option("--force-compression", is_flag=True,
              help="Recompress layers compressed with another format too.")
@tls_flags
@pass_app
def push(app: App, name: str, all_tags: bool, quiet: bool, max_concurrent_uploads: int,
         sign_by: str | None, compression_format: str, force_compression: bool,
         tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Upload an image from the local store to a registry."""
    ref = parse_reference(name, default_tag=False)
    if ref.digest:
        raise WharfieError("push by digest is not supported: push a tag")
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert,
                                              max_concurrent_uploads))
    if all_tags:
        if ref.tag:
            raise WharfieError("tag can't be used with --all-tags/-a")
        refs = sorted({r for img in client.images(all=True) for r in img.repo_tags
                       if r.name == ref.name}, key=str)
        if not refs:
            raise NotFound(f"No such image: {ref.familiar_name}")
    else:
        if not ref.tag:
            if not quiet:
                click.echo("Using default tag: latest")
            ref = ref.with_tag("latest")
        refs = [ref]
    if not quiet:
        click.echo(f"The push refers to repository [{ref.name}]")
    signing = {"sign_by": sign_by, "password": password_for(sign_by)} if sign_by else {}
    for r in refs:
        push_one(client, r, quiet, compression=compression_format,
                 force_compression=force_compression, **signing)
    if quiet:
        click.echo(str(refs[0]) if len(refs) == 1 else ref.name)


def push_one(client: Client, ref: Reference, quiet: bool, **options) -> None:
    layer_ids: dict[Digest, Digest] = {}  # Docker shows layers by diffID; push fills it in
    mounted: dict[Digest, str] = {}
    view = LayerProgress("push", layer_ids, quiet=quiet, mounted=mounted)
    with interruptible():
        try:
            result = client.push(ref, progress=view, mounted=mounted, layer_ids=layer_ids,
                                 **options)
        finally:
            view.close()
    if not quiet:
        click.echo(f"{ref.tag}: digest: {result.digest} size: {result.size}")
