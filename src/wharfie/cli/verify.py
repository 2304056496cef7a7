"""``wharfie verify``: a verdict on an image's signatures, over ``Client.verify``."""

from __future__ import annotations

import json

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import registry_options, tls_flags


@click.command("verify")
@click.argument("image")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="Public key file (ECDSA, Ed25519 or RSA PEM).")
@click.option("--local", is_flag=True, help="Verify the image in the local store.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@tls_flags
@pass_app
def verify(app: App, image: str, key_path: str, local: bool, fmt: str, tls_verify: bool,
           insecure: bool, ca_cert: str | None) -> None:
    """Check that IMAGE is signed by the key; exit non-zero with the reason if not."""
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    verdict = client.verify(image, key_path, local=local)
    if fmt == "json":
        click.echo(json.dumps(verdict.to_dict(), indent=2))
        return
    click.echo(f"Verified OK: {verdict.image.familiar()}")
    click.echo(f"  digest:   {verdict.digest}")
    click.echo(f"  identity: {verdict.identity}")
    click.echo(f"  key:      {verdict.key}")
    for name, value in sorted(verdict.annotations.items()):
        click.echo(f"  annotation {name}={value}")
