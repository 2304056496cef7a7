"""``wharfie copy SRC DST``: skopeo's transport names, one generic copy between them."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import interruptible, registry_options, tls_flags
from wharfie.errors import WharfieError
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mediatypes import CONFIGS
from wharfie.transports.names import parse_name
from wharfie.transports.registry.credentials import Credentials


@click.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option("--all", "all_", is_flag=True, help="Copy a whole index, every platform.")
@click.option("--platform", help="The image to take from an index (default: the host's).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--src-creds", metavar="USER:PASS", help="Credentials for the source registry.")
@click.option("--dest-creds", metavar="USER:PASS",
              help="Credentials for the destination registry.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Blobs copied at once.")
@tls_flags
@pass_app
def copy_cmd(app: App, src: str, dst: str, all_: bool, platform: str | None, quiet: bool,
             src_creds: str | None, dest_creds: str | None, jobs: int, tls_verify: bool,
             insecure: bool, ca_cert: str | None) -> None:
    """Copy an image between transports.

    \b
    docker://REF          a registry
    oci:DIR[:TAG]         an OCI layout directory
    oci-archive:FILE[:TAG] a tar of an OCI layout
    docker-archive:FILE[:REF]  docker save's format
    wharfie:REF           the local image store
    """
    source, dest = parse_name(src), parse_name(dst)
    options = registry_options(tls_verify, insecure, ca_cert, jobs)
    for name, creds in ((source, src_creds), (dest, dest_creds)):
        if creds:
            if name.reference is None or name.transport != "docker":
                raise WharfieError(f"credentials given for {name}, which is not a registry")
            user, sep, password = creds.partition(":")
            if not sep:
                raise WharfieError("credentials must be USER:PASSWORD")
            options.credentials_for[name.reference.domain] = Credentials(user, password)
    client = app.client_with(options)

    def progress(event: str, desc: Descriptor, n: int) -> None:
        if quiet or event not in ("skip", "start"):
            return
        what = "config" if desc.media_type in CONFIGS or "config" in desc.media_type else "blob"
        click.echo(f"Copying {what} {desc.digest}"
                   + (" skipped: already exists" if event == "skip" else ""))

    if not quiet:
        click.echo("Getting image source signatures")
    with interruptible():
        digest = client.copy(source, dest, all=all_, platform=platform, progress=progress)
    if not quiet:
        click.echo("Writing manifest to image destination")
        click.echo(f"Digest: {digest}")
