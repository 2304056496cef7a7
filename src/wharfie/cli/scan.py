"""``wharfie scan IMAGE``: vulnerabilities, each with the layer and step that brought it."""

from __future__ import annotations

import dataclasses
import json

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import ellipsis, tabwrite


@click.command("scan")
@click.argument("image")
@click.option("--severity", default="CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN", show_default=True,
              help="Comma-separated severities to report.")
@click.option("--exit-code", type=int, default=0, help="Exit status when findings remain.")
@click.option("--ignore-unfixed", is_flag=True, help="Leave out vulnerabilities with no fix.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_app
def scan(app: App, image: str, severity: str, exit_code: int, ignore_unfixed: bool,
         fmt: str) -> int:
    """Match IMAGE's packages against the local vulnerability database."""
    from wharfie.imagefs import open_source
    from wharfie.security.vulns import scan as scan_image

    wanted = {s.strip().upper() for s in severity.split(",") if s.strip()}
    store = app.images
    with open_source(image, store) as source:
        findings = scan_image(source.image, app.root, name=image,
                              bases=list(store.list()))
    findings = [f for f in findings if f.severity in wanted and (f.fixed or not ignore_unfixed)]
    if fmt == "json":
        click.echo(json.dumps([dataclasses.asdict(f) for f in findings], indent=2))
    else:
        lines = ["PACKAGE\tVULNERABILITY\tSEVERITY\tINSTALLED\tFIXED\tLAYER\tORIGIN\tSTEP"]
        lines += [f"{f.package}\t{f.vuln}\t{f.severity}\t{f.installed}\t{f.fixed or '-'}\t"
                  f"{f.layer}\t{f.origin}\t{ellipsis(f.step, 50)}" for f in findings]
        click.echo(tabwrite(lines), nl=False)
    return exit_code if findings else 0
