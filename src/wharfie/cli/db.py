"""``wharfie db import PATH`` and ``wharfie db status``: the local vulnerability database."""

from __future__ import annotations

from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import tabwrite
from wharfie.cli.transfer import registry_options, tls_flags


@click.group("db")
def db() -> None:
    """Manage the local vulnerability database (advisories you import; none ship)."""


@db.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def import_cmd(app: App, path: Path) -> None:
    """Import OSV records (a directory, zip or JSON lines), Debian security tracker JSON or
    Alpine secdb JSON from PATH."""
    kind, rows = app.client.db_import(path)
    click.echo(f"imported {rows} ranges ({kind}) from {path}")


@db.command("status")
@pass_app
def status(app: App) -> None:
    """The sources imported, their record counts and age."""
    from wharfie.cli.format import since

    lines = ["SOURCE\tKIND\tRECORDS\tIMPORTED"]
    lines += [f"{s['path']}\t{s['kind']}\t{s['records']}\t{since(s['imported'])}"
              for s in app.client.db_status()]
    click.echo(tabwrite(lines), nl=False)


@db.command("push")
@click.argument("ref")
@tls_flags
@pass_app
def push(app: App, ref: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Push the database to REF as an OCI artifact, for `wharfie db pull` elsewhere."""
    result = app.client_with(registry_options(tls_verify, insecure, ca_cert)).db_push(ref)
    click.echo(f"pushed {ref}@{result.digest}")


@db.command("pull")
@click.argument("ref")
@tls_flags
@pass_app
def pull(app: App, ref: str, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Replace the local database with the one pushed to REF."""
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    digest, rows = client.db_pull(ref)
    click.echo(f"pulled {ref}@{digest}: {rows} ranges")
