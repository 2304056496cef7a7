"""``wharfie save``, ``load`` and ``import``: Docker's flags and messages over transports/."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import BinaryIO

import click

from wharfie.cli.context import App, pass_app
from wharfie.errors import InvalidInput, InvalidReference, NotFound, WharfieError
from wharfie.oci.platform import parse_platform
from wharfie.oci.reference import parse_reference


def _open_input(path: str | None, what: str,
                verb: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """A file, or stdin when it is not a terminal (``-`` or no path)."""
    if path and path != "-":
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"open {path}: no such file or directory") from None
        except IsADirectoryError:
            raise InvalidInput(f"{path} is a directory, not a {what}") from None
    if sys.stdin.isatty():
        raise InvalidInput(f"requested {verb} from stdin, but stdin is empty")
    return contextlib.nullcontext(sys.stdin.buffer)


@click.command("save")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True)
@pass_app
def save(app: App, output: Path | None, images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from wharfie.transports.archive import save_archive, select_images, write_archive

    chosen = select_images(app.images, images)
    if output is not None:
        save_archive(output, chosen)
        return
    if sys.stdout.isatty():
        raise WharfieError("cowardly refusing to save to a terminal. "
                           "Use the -o flag or redirect")
    write_archive(sys.stdout.buffer, chosen)


@contextlib.contextmanager
def _load_progress(stream: BinaryIO, quiet: bool):
    """A byte-count bar on a terminal, as ``docker load`` shows; nothing otherwise."""
    if quiet or not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    total = None
    with contextlib.suppress(OSError, ValueError):
        total = os.fstat(stream.fileno()).st_size or None
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
    from wharfie.transports.archive import load_archive

    with _open_input(input_, "tar archive", "load") as stream, _load_progress(stream, quiet) as progress:
        loaded = load_archive(stream, app.images, progress=progress,
                              platform=parse_platform(platform) if platform else None)
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
    from wharfie.builder.changes import apply_changes
    from wharfie.transports.importer import import_image

    config = apply_changes({}, changes)
    ref = None
    if repository:
        ref = parse_reference(repository)
        if ref.digest is not None:
            raise InvalidReference(f"invalid reference format: {repository!r} has a digest; "
                                   "import takes REPOSITORY[:TAG]")
    with _open_input(file, "tarball", "import") as stream:
        image = import_image(stream, app.images, ref, config=config, message=message,
                             platform=parse_platform(platform) if platform else None)
    click.echo(str(image.id))
