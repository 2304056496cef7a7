"""The methods ``dataclasses`` compiles, kept from one run of the command to the next.

Python 3.11's ``dataclasses`` writes every method it makes (``__init__``, ``__repr__``,
``__eq__``, a frozen class's ``__setattr__``...) as source text and compiles it at each
start: about a quarter of a millisecond a class, and a build loads 75 of them. The text is
all that code depends on, so ``install`` hands ``dataclasses`` an ``exec`` that compiles
each text once, and ``save`` keeps the code for the next run, as Python keeps a module's
in a ``.pyc``: a marshal file beside this module's bytecode (under ``sys.pycache_prefix``
when set), headed by the interpreter's magic number, and never written where bytecode is
not (``PYTHONDONTWRITEBYTECODE``, a read-only install). There is one file per command, so
that a command reads only the code of the classes it makes (a file is read whole).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER, cache_from_source
from pathlib import Path
from types import CodeType

KEEP = 4096  # entries; past this, a save keeps only the ones its own run used
HEADER = MAGIC_NUMBER + b"dc1"  # the interpreter's bytecode, and this file's layout

_codes: dict[str, CodeType] | None = None  # read on first use
_used: dict[str, CodeType] = {}
_compiled_new = False
_command = "command"


def path() -> Path:
    """Where the code is kept: beside this module's bytecode, for this interpreter and
    the command ``install`` was given."""
    return Path(cache_from_source(__file__)).with_suffix(f".{_command}.dataclasses")


def install(command: str = "command") -> None:
    """From now on, ``dataclasses`` compiles through the cache of ``command`` (a
    subcommand's name; anything else shares one cache)."""
    global _command
    if command[:1].isalpha() and command.replace("-", "").isalpha() and command.isascii():
        _command = command
    if "exec" not in vars(dataclasses):
        dataclasses.exec = _exec  # type: ignore[attr-defined]


def save() -> None:
    """Keep what this run compiled for the next one; nothing to do when all was kept."""
    if not _compiled_new or _codes is None or sys.dont_write_bytecode:
        return
    target = path()
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(HEADER + marshal.dumps(_codes if len(_codes) <= KEEP else _used))
        os.replace(tmp, target)  # readers see the old file or the new one
    except OSError:  # as for bytecode: where it cannot be written, each run compiles
        with contextlib.suppress(OSError):  # nothing to remove, or nowhere to remove it from
            tmp.unlink()


def _exec(source, globals=None, locals=None, /):  # noqa: A002 - exec's own parameter names
    """``exec`` as ``dataclasses`` calls it, with source text compiled at most once."""
    if isinstance(source, str):
        source = _compile(source)
    return builtins.exec(source, globals, locals)


def _compile(source: str) -> CodeType:
    global _codes, _compiled_new
    if _codes is None:
        _codes = _load()
    code = _codes.get(source)
    if not isinstance(code, CodeType):
        # as exec compiles for dataclasses: without this module's __future__ flags
        code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
        _compiled_new = True
    _used[source] = code
    return code


def _load() -> dict[str, CodeType]:
    try:
        data = path().read_bytes()
        if data.startswith(HEADER):
            codes = marshal.loads(data[len(HEADER):])
            if isinstance(codes, dict):
                return codes
    except (OSError, ValueError, EOFError, TypeError):
        pass  # none kept yet, or a damaged file: compile, and the next save replaces it
    return {}
