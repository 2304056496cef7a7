"""``wharfie completion bash|zsh|fish``: the shell script that completes commands, flags
and the local store's image names (click's completion protocol, ``_WHARFIE_COMPLETE``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # loaded when completing, not by every command with an IMAGE argument
    from click.shell_completion import CompletionItem

SHELLS = ("bash", "zsh", "fish")


def complete_images(ctx: click.Context, param: click.Parameter,
                    incomplete: str) -> list[CompletionItem]:
    """Image names (``repo:tag``, familiar form) in the store, for IMAGE arguments. Reads
    only a store that exists: completing never creates one."""
    from click.shell_completion import CompletionItem

    from wharfie.paths import default_root

    root = ctx.find_root().params.get("root") or os.environ.get("WHARFIE_ROOT")
    root = Path(root) if root else default_root()
    if not (root / "index.json").is_file():
        return []
    from wharfie.api import Client

    try:
        names = {r.familiar() for s in Client(root).images() for r in s.repo_tags}
    except Exception:  # noqa: BLE001 - a broken store completes nothing, never a traceback
        return []
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; e.g. ``wharfie completion bash >
    /etc/bash_completion.d/wharfie``."""
    from click.shell_completion import get_completion_class

    from wharfie.cli.group import cli

    script = get_completion_class(shell)(cli, {}, "wharfie", "_WHARFIE_COMPLETE")
    click.echo(script.source())
