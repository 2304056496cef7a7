"""``wharfie sign``: cosign's signature layout, over ``Client.sign``."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import registry_options, tls_flags
from wharfie.errors import InvalidInput


@click.command("sign")
@click.argument("image")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="Private key file (cosign's encrypted format, or PKCS#8 PEM).")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Signed annotation (repeatable).")
@click.option("-a", "--recursive", is_flag=True,
              help="Sign every manifest of a multi-platform index too.")
@click.option("--local", is_flag=True,
              help="Sign the image in the local store; push carries the signature.")
@click.option("--bundle", is_flag=True,
              help="Also attach a Sigstore bundle through the referrers API (cosign v3).")
@tls_flags
@pass_app
def sign(app: App, image: str, key_path: str, annotations: tuple[str, ...], recursive: bool,
         local: bool, bundle: bool, tls_verify: bool, insecure: bool,
         ca_cert: str | None) -> None:
    """Sign IMAGE (in its registry, or --local) with a private key."""
    if bundle and local:
        raise InvalidInput("--bundle attaches through the registry's referrers API, "
                           "not with --local")
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    signed = client.sign(image, key_path, password=password_for(key_path),
                         annotations=parse_annotations(annotations), recursive=recursive,
                         local=local, bundle=bundle)
    for s in signed:
        click.echo(f"Signed {s.digest}: signature stored at {s.signatures}")


def password_for(key_path: str) -> bytes | None:
    """The password an encrypted key needs (environment or prompt); None for a plain key."""
    from wharfie.cli.key import ask_password
    from wharfie.signing.keys import is_encrypted

    try:
        with open(key_path, "rb") as f:
            encrypted = is_encrypted(f.read())
    except OSError:
        return None  # Client.sign reports the missing file
    return ask_password() if encrypted else None


def parse_annotations(given: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"invalid annotation {item!r}: expected KEY=VALUE")
        pairs[name] = value
    return pairs
