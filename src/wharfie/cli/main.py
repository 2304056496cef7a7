"""Entry point: the ``wharfie`` command group and its error handling.

Commands are imported only when invoked, so ``wharfie images`` does not pay
for the registry server or the build engine at start-up.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

import click

from wharfie import __version__
from wharfie.cli.context import App
from wharfie.errors import WharfieError
from wharfie.paths import default_root

# command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "pull": "wharfie.cli.pull:pull",
    "push": "wharfie.cli.push:push",
    "login": "wharfie.cli.login:login",
    "logout": "wharfie.cli.login:logout",
    "copy": "wharfie.cli.copy:copy_cmd",
    "manifest": "wharfie.cli.remote:manifest",
    "remote": "wharfie.cli.remote:remote",
    "tags": "wharfie.cli.remote:tags",
    "delete": "wharfie.cli.remote:delete",
    "images": "wharfie.cli.images:images",
    "image": "wharfie.cli.image:image",
    "tag": "wharfie.cli.images:tag",
    "rmi": "wharfie.cli.images:rmi",
    "inspect": "wharfie.cli.images:inspect",
    "history": "wharfie.cli.images:history",
    "system": "wharfie.cli.system:system",
    "registry": "wharfie.cli.registry_server:registry",
    "save": "wharfie.cli.archive:save",
    "load": "wharfie.cli.archive:load",
    "import": "wharfie.cli.archive:import_",
    "lint": "wharfie.cli.dockerfile:lint_cmd",
    "debug": "wharfie.cli.dockerfile:debug",
    "run": "wharfie.cli.run:run",
    "export": "wharfie.cli.run:export",
    "ps": "wharfie.cli.run:ps",
    "rm": "wharfie.cli.run:rm",
    "build": "wharfie.cli.build:build_cmd",
    "builder": "wharfie.cli.builder:builder",
    "buildx": "wharfie.cli.builder:buildx",
    "sbom": "wharfie.cli.sbom:sbom",
    "scan": "wharfie.cli.scan:scan",
    "db": "wharfie.cli.db:db",
    "key": "wharfie.cli.key:key",
    "sign": "wharfie.cli.sign:sign",
    "verify": "wharfie.cli.verify:verify",
}


# Go's strconv.ParseBool, which docker's flag library uses for ``--flag=value``.
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
             **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}


def go_flag_args(command: click.Command, args: list[str]) -> list[str]:
    """Rewrite docker's (Go's pflag) spellings into click's, for every command at once:
    ``--rm=true`` -> ``--rm``, ``--pull=false`` -> nothing (or ``--no-pull``), ``-t=name``
    -> ``-t name``. Stops at ``--``, and at the first argument for commands (``run``)
    that take their own arguments after the image."""
    options = {name: p for p in command.params if isinstance(p, click.Option)
               for name in p.opts + p.secondary_opts}
    interspersed = command.context_settings.get("allow_interspersed_args",
                                                command.allow_interspersed_args)
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--" or (not arg.startswith("-") and not interspersed):
            return out + args[i:]
        name, eq, value = arg.partition("=")
        opt = options.get(name) if eq and arg.startswith("-") else None
        if opt is None:
            out.append(arg)
        elif opt.is_flag and opt.is_bool_flag:
            if value not in _GO_BOOLS:
                raise click.UsageError(f'invalid argument "{value}" for "{name}" flag: '
                                       f'strconv.ParseBool: parsing "{value}": invalid syntax')
            on = _GO_BOOLS[value] == (name in opt.opts)
            if on or opt.secondary_opts:
                out.append(name if on == (name in opt.opts) else
                           (opt.secondary_opts + opt.opts)[0])
            # off, with no --no- form: the flag's default, which is off
        elif not name.startswith("--"):
            out += [name, value]  # -t=name
        else:
            out.append(arg)
    return out


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; every subcommand takes
    docker's Go flag syntax (``go_flag_args``)."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None and not isinstance(cmd, click.Group):
            rest = go_flag_args(cmd, rest)
        return name, cmd, rest

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(path_type=Path), envvar="WHARFIE_ROOT",
              help="State directory (default /var/lib/wharfie as root).")
@click.option("--debug", is_flag=True, envvar="WHARFIE_DEBUG", help="Show tracebacks.")
@click.version_option(__version__, prog_name="wharfie")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, debug: bool) -> None:
    """wharfie: build, manage, share and secure container images without a daemon."""
    # absolute: mount (run in the snapshotter's home) and runc resolve paths elsewhere
    ctx.obj = App(root=(root or default_root()).absolute(), debug=debug)


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; turn library errors into one ``wharfie: error:`` line."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("WHARFIE_DEBUG"))
    try:
        rv = cli.main(args=argv, prog_name="wharfie", standalone_mode=False)
    except WharfieError as e:
        if debug:
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
            traceback.print_exc()
        click.echo(f"wharfie: error: {e.strerror or e}"
                   + (f": {e.filename}" if getattr(e, "filename", None) else ""), err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
