"""``wharfie events``: the event log, in docker's text or JSON form."""

from __future__ import annotations

import signal
from typing import Any

import click

from wharfie.cli.context import App, pass_app


def text(event: dict[str, Any]) -> str:
    """docker's line: time, type, action, actor, then the attributes sorted by key."""
    from wharfie.containers.logs import rfc3339

    line = (f"{rfc3339(event['timeNano'])} {event['Type']} {event['Action']} "
            f"{event['Actor']['ID']}")
    attrs = event["Actor"]["Attributes"]
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


@click.command("events")
@click.option("--since", help="Show events since a timestamp, Unix time or duration (10m).")
@click.option("--until", help="Stream events until this time (else follow until Ctrl-C).")
@click.option("-f", "--filter", "filters", multiple=True,
              help="type=, event=, container=, image=, label=, volume=.")
@click.option("--format", "fmt", help="Go template, or json.")
@pass_app
def events(app: App, since: str | None, until: str | None, filters: tuple[str, ...],
           fmt: str | None) -> None:
    """Get real time events from wharfie's operations."""
    from wharfie.cli.format import Template, go_json

    found = app.client.events(since=since, until=until, filters=list(filters))
    template = Template(fmt) if fmt and fmt.strip() != "json" else None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate: as Ctrl-C
    try:
        for e in found:
            click.echo(template.render(e) if template else go_json(e) if fmt else text(e))
    except KeyboardInterrupt:
        return
