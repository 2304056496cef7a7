"""``wharfie image squash``: merge an image's layers into one."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.errors import InvalidReference


@click.command("squash")
@click.option("-t", "--tag", "tags", multiple=True,
              help="Name the result (default: move IMAGE's own tag to it).")
@click.option("--keep-base", type=click.IntRange(min=0), default=0, show_default=True,
              help="Keep the first N layers as they are and merge only the rest.")
@click.option("--compression", type=click.Choice(["gzip", "zstd", "none"]), default="gzip",
              show_default=True)
@click.argument("image")
@pass_app
def squash_cmd(app: App, tags: tuple[str, ...], keep_base: int, compression: str,
               image: str) -> None:
    """Merge an image's layers into one, with deleted files gone for good; print its ID."""
    from wharfie.builder.squash import squash
    from wharfie.oci.reference import parse_reference

    store = app.images
    source = store.resolve(image)
    refs = [parse_reference(t) for t in tags]
    if not refs:  # `squash app:1` leaves app:1 squashed, as build --squash would
        try:
            own = parse_reference(image)
        except InvalidReference:
            own = None
        if own is not None and own in store.refs(str(source.manifest_digest)):
            refs = [own]
    new = squash(store, source, keep_base=keep_base, compression=compression)
    for ref in refs:
        store.tag(ref, new.manifest_digest)
    click.echo(str(new.id))
