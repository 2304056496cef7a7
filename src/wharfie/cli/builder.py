"""``wharfie builder prune``: reclaim the build cache, as ``docker builder prune``."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.group import LazyGroup
from wharfie.errors import WharfieError
from wharfie.units import parse_size


@click.group("builder")
def builder() -> None:
    """Manage the build cache."""


@click.group("buildx", cls=LazyGroup, lazy={"build": "wharfie.cli.build:build_cmd",
                                             "prune": "wharfie.cli.builder:prune"})
def buildx() -> None:
    """docker buildx's build and prune, for scripts that call them by that name."""


@builder.command("prune")
@click.option("-a", "--all", "everything", is_flag=True,
              help="Remove all unused build cache, not just dangling ones.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (until=24h).")
@click.option("--keep-storage", help="Amount of disk space to keep for cache (e.g. 1GB).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune(app: App, everything: bool, filters: tuple[str, ...], keep_storage: str | None,
          force: bool) -> None:
    """Remove build cache."""
    from wharfie.builder import prune_cache
    from wharfie.cli.format import human_size
    from wharfie.images.filters import parse_until

    older = None
    for f in filters:
        key, _, value = f.partition("=")
        if key != "until" or not value:
            raise WharfieError(f"invalid filter {f!r}: builder prune supports until=DURATION")
        older = parse_until(value)  # a Go duration or a time, as image prune reads it
    if not force:
        what = "all build cache" if everything else "all dangling build cache"
        if not click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to "
                             "continue?", default=False):
            return
    report = prune_cache(app.images, everything=everything, until=older,
                         keep_storage=parse_size(keep_storage) if keep_storage else None)
    if report.deleted:
        click.echo("Deleted build cache objects:")
        for rec in report.deleted:
            click.echo(rec.layer.digest.hex[:25] if rec.layer else "(empty step)")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed)}")
