"""``wharfie image ...``: the group of image commands, each imported only when run.

Other modules add subcommands with one line in IMAGE_COMMANDS
(name -> "module:attribute"), as the top-level COMMANDS in cli/group.py.
"""

from __future__ import annotations

import click

from wharfie.cli.group import LazyGroup

IMAGE_COMMANDS: dict[str, str] = {
    "build": "wharfie.cli.build:build_cmd",
    "pull": "wharfie.cli.pull:pull",
    "push": "wharfie.cli.push:push",
    "ls": "wharfie.cli.images:images",
    "list": "wharfie.cli.images:images",
    "rm": "wharfie.cli.images:rmi",
    "remove": "wharfie.cli.images:rmi",
    "tag": "wharfie.cli.images:tag",
    "inspect": "wharfie.cli.images:image_inspect",
    "history": "wharfie.cli.images:history",
    "prune": "wharfie.cli.images:prune",
    "save": "wharfie.cli.archive:save",
    "load": "wharfie.cli.archive:load",
    "import": "wharfie.cli.archive:import_",
    "squash": "wharfie.cli.squash:squash_cmd",
    "analyze": "wharfie.cli.analyze:analyze_cmd",
}


@click.group("image", cls=LazyGroup, lazy=IMAGE_COMMANDS)
def image() -> None:
    """Manage images."""
