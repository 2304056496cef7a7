"""A build run for the command line: progress on stderr, the image ID on stdout with
``-q``, build-check warnings after. Free of click: ``cli/rebuild`` runs a recalled command
line's build with it before click loads, when a source changed since that command last
ran (click, the command group and the API client are a twentieth of such a build)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wharfie.cli.buildprogress import progress_renderer

if TYPE_CHECKING:
    from wharfie.builder import BuildOptions
    from wharfie.builder.fastpath import Invocation
    from wharfie.images.imagestore import ImageStore


def run_build(images: ImageStore, options: BuildOptions, invocation: Invocation | None, *,
              quiet: bool, progress: str) -> None:
    """Run the build with progress on stderr; the image ID on stdout with -q. A build whose
    inputs the fast path can vouch for is saved under ``invocation`` (the command line's
    key), for ``cli.rebuild`` to repeat before the CLI loads."""
    from wharfie.builder import BuildCheckError, build

    show = not quiet and progress != "quiet"
    note = {"quiet": quiet, "progress": progress, "explain": options.explain_cache}
    renderer = progress_renderer(sys.stderr, **note)
    if invocation is not None:
        invocation.note = note
    closed = False
    with sigterm_as_interrupt(), contextlib.ExitStack() as after:

        def close_renderer() -> None:
            nonlocal closed
            if not closed:
                closed = True
                renderer.close()

        def emit(event) -> None:
            if event.kind not in ("push", "pushed"):
                renderer(event)
                return
            close_renderer()
            if event.kind == "push":
                from wharfie.cli.transfer import interruptible  # registry client: pushes only

                after.enter_context(interruptible())  # Ctrl-C ends a push at once
            if show:
                done = " done" if event.kind == "pushed" else ""
                sys.stderr.write(f"#{event.step} pushing {event.text}{done}\n")

        try:
            result = build(images, options, emit=emit, invocation=invocation)
        except BuildCheckError as e:
            show_findings(e.findings)
            raise
        finally:
            close_renderer()
    if quiet:
        print(result.image_id)
        return
    if show:
        show_findings(result.checks)


def show_findings(findings: list) -> None:
    """Build check warnings after a build, in BuildKit's words."""
    if findings:
        n = len(findings)
        sys.stderr.write(f"\n {n} warning{'s' if n != 1 else ''} found:\n")
        for f in findings:
            sys.stderr.write(f" - {f.rule}: {f.message} (line {f.line})\n")


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
