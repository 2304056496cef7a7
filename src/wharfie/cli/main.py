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


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

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
