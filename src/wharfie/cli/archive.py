"""``wharfie save``, ``load`` and ``import``: Docker's flags and messages over the API."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import BinaryIO

import click

from wharfie.cli.completion import complete_images
from wharfie.cli.context import App, pass_app
from wharfie.errors import InvalidInput, WharfieError


def _input(path: str | None, verb: str) -> str | BinaryIO:
    """A file's path, or stdin when it is not a terminal (``-`` or no path)."""
    if path and path != "-":
        return path
    if sys.stdin.isatty():
        raise InvalidInput(f"requested {verb} from stdin, but stdin is empty")
    return sys.stdin.buffer


@click.command("save")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True, shell_complete=complete_images)
@pass_app
def save(app: App, output: Path | None, images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    if output is None and sys.stdout.isatty():
        raise WharfieError("cowardly refusing to save to a terminal. "
                           "Use the -o flag or redirect")
    app.client.save(images, output if output is not None else sys.stdout.buffer)


@contextlib.contextmanager
def _load_progress(source: str | BinaryIO, quiet: bool):
    """A byte-count bar on a terminal, as ``docker load`` shows; nothing otherwise."""
    if quiet or not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    total = None
    with contextlib.suppress(OSError, ValueError):
        total = (os.stat(source) if isinstance(source, str)
                 else os.fstat(source.fileno())).st_size or None
    with Progress(TextColumn("Loading layers"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), transient=True) as bars:
        task = bars.add_task("load", total=total)
        yield lambda n: bars.advance(task, n)


@click.command("load")
@click.option("-i", "--input", "input_", metavar="FILE",
              help="Read from tar archive file, instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.option("--platform", help="The image to load from a multi-platform index "
              "(default: the host's).")
@pass_app
def load(app: App, input_: str | None, quiet: bool, platform: str | None) -> None:
    """Load images from a tar archive (docker save, docker-archive, oci-archive)."""
    source = _input(input_, "load")
    with _load_progress(source, quiet) as progress:
        loaded = app.client.load(source, platform=platform, on_bytes=progress)
    for item in loaded:
        for ref in item.tags:
            old = item.replaced.get(ref)
            if old is not None and not quiet:
                click.echo(f"The image {ref.familiar()} already exists, renaming the old one "
                           f"with ID {old} to empty string")
            click.echo(f"Loaded image: {ref.familiar()}")
        if not item.tags:
            click.echo(f"Loaded image ID: {item.id}")


@click.command("import")
@click.argument("file")
@click.argument("repository", required=False)
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", help="Set commit message for imported image.")
@click.option("--platform", help="Set platform if server is multi-platform capable.")
@pass_app
def import_(app: App, file: str, repository: str | None, changes: tuple[str, ...],
            message: str | None, platform: str | None) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    image = app.client.import_image(_input(file, "import"), repository or None,
                                    changes=changes, message=message, platform=platform)
    click.echo(str(image.id))
