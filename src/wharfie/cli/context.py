"""State shared by every command: the root and the stores opened lazily on it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wharfie.api import Client
    from wharfie.builder.fastpath import Invocation
    from wharfie.content.blobstore import ContentStore
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions


@dataclass
class App:
    """``invocation``: a build's command line as ``run`` recalled it (``cli.rebuild``), to
    be remembered by the build and to reuse what the recall read."""

    root: Path
    debug: bool = False
    invocation: Invocation | None = None
    _closers: list = field(default_factory=list)

    @cached_property
    def client(self) -> Client:
        """The API client every command calls, on ``--root``."""
        from wharfie.api import Client

        return Client(self.root)

    def client_with(self, registries: RegistryOptions) -> Client:
        """A client on the same root (and open store) with a command's registry flags."""
        return self.client.with_registries(registries)

    @property
    def content(self) -> ContentStore:
        return self.client.content

    @property
    def images(self) -> ImageStore:
        return self.client.store


pass_app = click.make_pass_decorator(App)


def each(names: Iterable[str], action: Callable[[str], Any], *,
         echo: bool = False) -> tuple[list, bool]:
    """``action(name)`` for each name, as docker's commands over several objects do: an
    error is one line and the others still run. Returns the results and whether any
    failed (the caller exits 1 once it has shown what it has); ``echo`` prints each name
    that succeeded (``docker stop a b``)."""
    from wharfie.errors import WharfieError

    results, failed = [], False
    for name in names:
        try:
            results.append(action(name))
        except WharfieError as e:
            click.echo(f"wharfie: error: {e.message}", err=True)
            failed = True
            continue
        if echo:
            click.echo(name)
    return results, failed
