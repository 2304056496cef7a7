"""State shared by every command: the root and the stores opened lazily on it."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from wharfie.content.blobstore import ContentStore
    from wharfie.images.imagestore import ImageStore


@dataclass
class App:
    root: Path
    debug: bool = False
    _closers: list = field(default_factory=list)

    @cached_property
    def content(self) -> ContentStore:
        from wharfie.content.blobstore import ContentStore

        return ContentStore(self.root)

    @cached_property
    def images(self) -> ImageStore:
        from wharfie.images.imagestore import ImageStore

        return ImageStore(self.root, self.content)


pass_app = click.make_pass_decorator(App)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, ``docker stop``-like tools) stops the work as Ctrl-C
    does: containers are killed, snapshots removed, and the exit status is 130."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
