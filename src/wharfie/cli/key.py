"""``wharfie key generate``: a cosign-compatible key pair, over ``Client.generate_key``."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.errors import InvalidInput


@click.group("key")
def key() -> None:
    """Manage signing keys (cosign's file format).

    \b
    Pulls check signatures when a policy is configured:
      WHARFIE_POLICY=FILE            containers' policy.json (sigstoreSigned, reject, ...)
      DOCKER_CONTENT_TRUST=1 (or WHARFIE_CONTENT_TRUST=1)
                                     every image signed by the configured key:
                                     $WHARFIE_TRUST_KEY, else ROOT/trust/cosign.pub
    """


@key.command("generate")
@click.option("--output-key-prefix", default="cosign", show_default=True,
              help="Write PREFIX.key (encrypted private key) and PREFIX.pub.")
@pass_app
def generate(app: App, output_key_prefix: str) -> None:
    """Generate an ECDSA P-256 key pair; the password comes from WHARFIE_PASSWORD or
    COSIGN_PASSWORD, else a prompt."""
    private, public = app.client.generate_key(output_key_prefix, ask_password(confirm=True))
    click.echo(f"Private key written to {private}")
    click.echo(f"Public key written to {public}")


def ask_password(*, confirm: bool = False) -> bytes:
    """The key password: from the environment, else asked on the terminal."""
    from wharfie.signing.keys import password_from_env

    given = password_from_env()
    if given is not None:
        return given
    try:
        return click.prompt("Enter password for private key", hide_input=True,
                            confirmation_prompt=confirm, default="",
                            show_default=False).encode()
    except click.exceptions.Abort:
        raise InvalidInput("no password: set WHARFIE_PASSWORD or COSIGN_PASSWORD") from None
