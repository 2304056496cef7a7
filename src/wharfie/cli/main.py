"""Entry point: the ``wharfie`` command's error handling.

``wharfie --version`` answers before click and the command group are imported; every other
command goes through the group in cli/group.py.
"""

from __future__ import annotations

import os
import sys

from wharfie import __version__
from wharfie.errors import WharfieError


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; turn library errors into one ``wharfie: error:`` line."""
    args = argv if argv is not None else sys.argv[1:]
    if args == ["--version"]:  # as click's version_option says it, without loading click
        print(f"wharfie, version {__version__}")
        sys.exit(0)
    import click

    from wharfie.cli.group import cli

    debug = "--debug" in args or bool(os.environ.get("WHARFIE_DEBUG"))
    try:
        rv = cli.main(args=argv, prog_name="wharfie", standalone_mode=False)
    except WharfieError as e:
        if debug:
            import traceback  # only for --debug: it loads tokenize and linecache

            traceback.print_exc()
        click.echo(f"wharfie: error: {e.message}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("wharfie: error: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("wharfie: error: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:  # docker: usage on stdout, exit 0
        click.echo(e.ctx.get_help() if e.ctx else "")
        sys.exit(0)
    except click.UsageError as e:  # docker: 125 for run (the daemon's code), else 1
        e.show()
        sys.exit(125 if e.ctx is not None and e.ctx.command_path == "wharfie run" else 1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code if e.exit_code else 125)
    except BrokenPipeError:
        sys.exit(141)
    except OSError as e:
        if debug:
            import traceback  # only for --debug: it loads tokenize and linecache

            traceback.print_exc()
        click.echo(f"wharfie: error: {e.strerror or e}"
                   + (f": {e.filename}" if getattr(e, "filename", None) else ""), err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
