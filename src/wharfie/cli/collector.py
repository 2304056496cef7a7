"""Python's cycle collector over one command's short life.

Starting a command creates tens of thousands of objects (modules, classes, functions) that
all live until the process exits: collecting among them finds nothing and costs about a
tenth of a short command. So ``run`` pauses the collector while the command's modules
load; ``settle`` then freezes what exists (it is never scanned again) and turns the
collector back on for what the command itself creates. ``exiting`` freezes once more, which
spares the interpreter's last collection a walk over every object just before the process
releases its memory anyway.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Collector off until ``settle``; left alone if it is off already."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def settle() -> None:
    """Start-up is over: if ``pause`` turned the collector off, freeze what exists and turn
    it back on; otherwise (a command run in-process, as tests do) nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def exiting() -> None:
    """The process exits next: nothing left needs collecting before it does."""
    settle()
    gc.freeze()
