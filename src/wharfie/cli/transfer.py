"""What pull, push and copy share: registry flags, and per-layer progress as Docker shows it.

Progress bars (rich) only when stdout is a terminal; plain lines otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

import click

from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mediatypes import CONFIGS
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.credentials import Credentials


def tls_flags(f: Callable) -> Callable:
    """``--tls-verify/--insecure`` and ``--ca-cert`` (skopeo's and podman's spellings)."""
    f = click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False),
                     help="Trust this PEM CA bundle for the registry's TLS certificate.")(f)
    f = click.option("--insecure", is_flag=True,
                     help="Allow plain HTTP and unverified TLS (same as --tls-verify=false).")(f)
    f = click.option("--tls-verify", type=click.BOOL, default=True, show_default=True,
                     help="Require HTTPS with a verified certificate (loopback may use HTTP).")(f)
    return f


def registry_options(tls_verify: bool = True, insecure: bool = False,
                     ca_cert: str | None = None, jobs: int = 4,
                     credentials: Credentials | None = None) -> RegistryOptions:
    return RegistryOptions(insecure=insecure or not tls_verify, ca_cert=ca_cert,
                           jobs=max(1, jobs), credentials=credentials)


class LayerProgress:
    """Renders copy events for the layers in ``labels`` (digest -> the 12-char ID shown;
    ``None``: every blob but the config, by its short digest, as a pull shows them).

    ``verb`` is "pull" or "push"; ``mounted`` (digest -> repo) and ``existing`` tell a push
    why a blob was skipped.
    """

    def __init__(self, verb: str, labels: dict[Digest, str] | dict[Digest, Digest] | None, *,
                 quiet: bool = False,
                 mounted: dict[Digest, str] | None = None,
                 existing: set[Digest] | None = None) -> None:
        self.verb, self.labels, self.quiet = verb, labels, quiet
        self.mounted = mounted if mounted is not None else {}
        self.existing = existing if existing is not None else set()
        self._lock = threading.Lock()
        self._bars = None
        self._tasks: dict[Digest, int] = {}
        self._held: list[str] = []
        if not quiet and sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._bars = Progress(TextColumn("{task.description}"), BarColumn(),
                                  DownloadColumn(), TransferSpeedColumn(), transient=False)
            self._bars.start()

    def __call__(self, event: str, desc: Descriptor, n: int) -> None:
        label = self._label(desc)
        if label is None or self.quiet:
            return
        with self._lock:
            if self._bars is not None:
                self._bar(event, desc, label, n)
            elif event in ("skip", "start", "done"):
                text = self._status(event, desc)
                if text and event == "skip" and self.verb == "pull":
                    self._held.append(f"{label}: {text}")  # shown only if the pull updates
                elif text:
                    self.show_held()
                    click.echo(f"{label}: {text}")

    def show_held(self) -> None:
        """Print the "Already exists" lines held back: docker shows them only when a pull
        fetches something or moves the tag, not for an image that is up to date."""
        for line in self._held:
            click.echo(line)
        self._held.clear()

    def _label(self, desc: Descriptor) -> str | None:
        if self.labels is not None:
            label = self.labels.get(desc.digest)
            return label.short if isinstance(label, Digest) else label
        return None if desc.media_type in CONFIGS else desc.digest.short

    def _status(self, event: str, desc: Descriptor) -> str | None:
        if self.verb == "pull":
            return {"skip": "Already exists", "start": "Pulling fs layer",
                    "done": "Pull complete"}[event]
        if event == "skip":
            repo = self.mounted.get(desc.digest)
            return f"Mounted from {repo}" if repo else "Layer already exists"
        return "Pushed" if event == "done" else None

    def _bar(self, event: str, desc: Descriptor, label: str, n: int) -> None:
        assert self._bars is not None
        doing = "Downloading" if self.verb == "pull" else "Pushing"
        if desc.digest not in self._tasks:
            self._tasks[desc.digest] = self._bars.add_task(f"{label}: {doing}", total=desc.size)
        task = self._tasks[desc.digest]
        if event == "advance":
            self._bars.advance(task, n)
        elif event in ("skip", "done"):
            self._bars.update(task, completed=desc.size,
                              description=f"{label}: {self._status(event, desc)}")

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C (or SIGTERM) ends a transfer at once.

    Worker threads may sit in a socket read, and Python would join them before exiting, so
    the handler leaves with ``os._exit``. The store stays consistent: unfinished blobs are
    ingest temp files (never visible, cleaned later) and tags are written only at the end.
    """
    def stop(signum, frame) -> None:
        sys.stdout.flush()
        click.echo("wharfie: error: interrupted", err=True)
        sys.stderr.flush()
        os._exit(130)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)

