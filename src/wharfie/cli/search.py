"""``wharfie search HOST/TERM``: docker search's table over a registry's catalog."""

from __future__ import annotations

import sys

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import write_rows

SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
                  "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}
SEARCH_TABLE = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"


@click.command("search")
@click.argument("term", metavar="HOST/TERM")
@click.option("--limit", type=int, default=25, show_default=True, help="Max number of results")
@click.option("--format", "fmt", help="Pretty-print search using a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@pass_app
def search(app: App, term: str, limit: int, fmt: str | None, no_trunc: bool) -> None:
    """Search a registry's catalog for repositories whose name contains TERM (catalogs
    carry no descriptions or stars: those columns stay empty)."""
    names = app.client.search(term, limit=limit)
    rows = [{"Name": n, "Description": "", "StarCount": "0", "IsOfficial": "",
             "IsAutomated": ""} for n in names]
    write_rows(fmt, rows, default=SEARCH_TABLE, headers=SEARCH_HEADERS, echo=sys.stdout.write)
