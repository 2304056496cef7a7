"""``wharfie build`` when nothing changed, answered before click and the command group
load (they are half of a no-change rebuild's time): the command line, its working
directory and its environment, hashed, name a build that ran before
(``builder.fastpath.Invocation``); if everything that build read is as it was, its image is
tagged and its steps shown as the full path shows them. Otherwise nothing is done here
and the command runs the full way, which also reports any error."""

from __future__ import annotations

import hashlib
import json
import os
import sys

from wharfie import __version__


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


def cached_build(args: list[str], key: str | None) -> int | None:
    """Exit status of the build ``args`` names if its fast path answered, else None."""
    if key is None:
        return None
    from wharfie.builder.fastpath import Invocation
    from wharfie.errors import WharfieError
    from wharfie.paths import default_root

    root = default_root().absolute()
    invocation = Invocation.recall(root, key)
    if invocation is None:
        return None
    from wharfie.cli.buildprogress import progress_renderer
    from wharfie.images.imagestore import ImageStore

    events: list = []
    try:
        images = ImageStore(root)
        try:
            result = invocation.rebuild(images, emit=events.append)
        finally:
            images.close()
    except (OSError, WharfieError):
        return None  # the full way meets it again, and says what it is
    if result is None:
        return None
    renderer = progress_renderer(sys.stderr, **invocation.note)
    for event in events:
        renderer(event)
    renderer.close()
    if invocation.note.get("quiet"):
        print(result.image_id)
    return 0
