"""Entry point: the ``wharfie`` command's error handling.

``wharfie --version``, and a ``build`` command line that ran before (cli/rebuild.py),
finish before click and the command group are imported; every other command goes through
the group in cli/group.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wharfie import __version__
from wharfie.cli import codecache, collector
from wharfie.errors import WharfieError

if TYPE_CHECKING:
    from wharfie.builder.fastpath import Invocation


def run(argv: list[str] | None = None) -> None:
    """Run the CLI and exit; library errors become one ``wharfie: error:`` line."""
    args = argv if argv is not None else sys.argv[1:]
    if args == ["--version"]:  # as click's version_option says it, without loading click
        print(f"wharfie, version {__version__}")
        sys.exit(0)
    debug = "--debug" in args or bool(os.environ.get("WHARFIE_DEBUG"))
    collector.pause()  # settled once the command's modules are in (cli/group.py)
    codecache.install(args[0] if args else "")
    try:
        with _errors(debug):
            code = _command(args)
    finally:
        collector.exiting()
        codecache.save()
    sys.exit(code)


def _command(args: list[str]) -> int:
    """A build command line that ran before, else the command through click."""
    invocation = None
    if args[:1] == ["build"]:
        from wharfie.cli.rebuild import cached_build, recall

        invocation = recall(args)
        code = cached_build(invocation) if invocation is not None else None
        if code is not None:
            return code
    return _click_main(args, invocation)


def _click_main(args: list[str], invocation: Invocation | None) -> int:
    """The command through click; click's own errors shown as click shows them."""
    import click

    from wharfie.cli.group import cli

    try:
        rv = cli.main(args=args, prog_name="wharfie", standalone_mode=False, obj=invocation)
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.NoArgsIsHelpError as e:  # docker: usage on stdout, exit 0
        click.echo(e.ctx.get_help() if e.ctx else "")
        return 0
    except click.UsageError as e:  # docker: 125 for run (the daemon's code), else 1
        e.show()
        return 125 if e.ctx is not None and e.ctx.command_path == "wharfie run" else 1
    except click.ClickException as e:
        e.show()
        return e.exit_code if e.exit_code else 125
    return rv if isinstance(rv, int) else 0


@contextlib.contextmanager
def _errors(debug: bool) -> Iterator[None]:
    """Library errors, Ctrl-C, a closed pipe and OS errors as one line and docker's exit
    status; the traceback too with ``--debug``."""
    try:
        yield
    except WharfieError as e:
        _traceback(debug)
        _say(f"wharfie: error: {e.message}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _say("wharfie: error: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    except OSError as e:
        _traceback(debug)
        _say(f"wharfie: error: {e.strerror or e}"
             + (f": {e.filename}" if getattr(e, "filename", None) else ""))
        sys.exit(1)


def _traceback(debug: bool) -> None:
    if debug:
        import traceback  # only for --debug: it loads tokenize and linecache

        traceback.print_exc()


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
