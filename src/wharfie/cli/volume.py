"""``wharfie volume ls|create|rm|prune|inspect``: named volumes under the root."""

from __future__ import annotations

import json
import sys

import click

from wharfie.cli.context import App, each, pass_app
from wharfie.errors import WharfieError


@click.group("volume")
def volume() -> None:
    """Manage volumes."""


@volume.command("create")
@click.option("-l", "--label", "labels", multiple=True, help="Set a label K=V.")
@click.option("-d", "--driver", default="local", help="Only local.")
@click.argument("name", required=False)
@pass_app
def create(app: App, labels: tuple[str, ...], driver: str, name: str | None) -> None:
    """Create a volume."""
    if driver != "local":
        raise WharfieError(f"volume driver {driver} is not supported: only local")
    v = app.client.create_volume(name, dict(lbl.partition("=")[::2] for lbl in labels))
    click.echo(v.name)


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@pass_app
def ls(app: App, quiet: bool) -> None:
    """List volumes."""
    from wharfie.cli.format import tabwrite

    vols = app.client.volumes()
    if quiet:
        for v in vols:
            click.echo(v.name)
        return
    click.echo(tabwrite(["DRIVER\tVOLUME NAME"] + [f"local\t{v.name}" for v in vols]), nl=False)


@volume.command("inspect")
@click.argument("names", nargs=-1, required=True)
@pass_app
def inspect(app: App, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    from wharfie.containers.volumes import Volumes

    docs, failed = each(names, lambda n: Volumes(app.root).get(n).document())
    click.echo(json.dumps(docs, indent=4))
    if failed:
        sys.exit(1)


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Ignore a missing volume.")
@click.argument("names", nargs=-1, required=True)
@pass_app
def rm(app: App, force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more volumes."""
    if each(names, lambda n: app.client.remove_volume(n, force=force), echo=True)[1]:
        sys.exit(1)


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Also named volumes.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune(app: App, all_: bool, force: bool) -> None:
    """Remove unused (anonymous, or with -a all) volumes."""
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not "
                                       "used by at least one container.\nAre you sure you want "
                                       "to continue?", default=False):
        return
    from wharfie.cli.format import prune_report

    gone, freed = app.client.prune_volumes(all=all_)
    click.echo(prune_report([("Deleted Volumes", gone)], freed), nl=False)
