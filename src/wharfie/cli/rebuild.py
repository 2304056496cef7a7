"""``wharfie build`` run again, before click and the command group load (they are half of
a no-change rebuild's time): the command line, its working directory and its environment,
hashed, name a build that ran before (``builder.fastpath.Invocation``). If everything that
build read is as it was, its image is tagged and its steps shown as the full path shows
them; if a source changed, the build runs with the options the command line gave then.
A command line never seen before, or one whose saved build cannot be read, runs the full
way, which also reports any error."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import TYPE_CHECKING

from wharfie import __version__

if TYPE_CHECKING:
    from wharfie.builder.fastpath import Invocation


def command_key(args: list[str]) -> str | None:
    """What names this command line: it, the working directory, the whole environment
    (``--build-arg NAME`` reads it) and wharfie's version, hashed; None without a working
    directory."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    text = json.dumps([__version__, args, cwd, sorted(os.environ.items())])
    return hashlib.sha256(text.encode()).hexdigest()


def recall(args: list[str]) -> Invocation | None:
    """This command line's invocation: as a build saved it, or new (to be saved by the
    build it asks for); None without a working directory."""
    key = command_key(args)
    if key is None:
        return None
    from wharfie.builder.fastpath import Invocation
    from wharfie.paths import default_root

    return Invocation.recall(default_root().absolute(), key) or Invocation(key)


def cached_build(invocation: Invocation) -> int | None:
    """Exit status of the build ``invocation`` names, or None to run the command the full
    way (click, with every check of its flags). If nothing it read changed, the fast path
    answers; if something did, the build runs here with the options the command line gave
    last time (and ``invocation`` keeps what it read, for the build to reuse)."""
    if invocation.recipe is None:
        return None
    from wharfie.cli.buildprogress import progress_renderer
    from wharfie.errors import WharfieError
    from wharfie.images.imagestore import ImageStore
    from wharfie.paths import default_root

    # The store is not closed: the process ends next, and closing would checkpoint the
    # write-ahead log (two syncs) for nothing; the next command goes on from it.
    events: list = []
    try:
        images = ImageStore(default_root().absolute())
        result = invocation.rebuild(images, emit=events.append)
        options = invocation.options() if result is None else None
    except (OSError, WharfieError):
        return None  # the full way meets it again, and says what it is
    if result is not None:
        renderer = progress_renderer(sys.stderr, **invocation.note)
        for event in events:
            renderer(event)
        renderer.close()
        if invocation.note.get("quiet"):
            print(result.image_id)
        return 0
    if options is None:
        return None
    from wharfie.cli.buildrun import run_build

    run_build(images, options, invocation, quiet=bool(invocation.note.get("quiet")),
              progress=str(invocation.note.get("progress", "auto")))
    return 0
