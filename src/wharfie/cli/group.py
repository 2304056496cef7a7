"""The ``wharfie`` command group: subcommands imported only when invoked (so ``wharfie
images`` does not pay for the registry server or the build engine at start-up), each taking
docker's Go flag syntax."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from wharfie import __version__
from wharfie.cli import collector
from wharfie.cli.context import App
from wharfie.paths import default_root

# command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "completion": "wharfie.cli.completion:completion",
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
    "create": "wharfie.cli.run:create",
    "start": "wharfie.cli.container:start",
    "stop": "wharfie.cli.container:stop",
    "restart": "wharfie.cli.container:restart",
    "kill": "wharfie.cli.container:kill",
    "pause": "wharfie.cli.container:pause",
    "unpause": "wharfie.cli.container:unpause",
    "wait": "wharfie.cli.container:wait",
    "rename": "wharfie.cli.container:rename",
    "logs": "wharfie.cli.container:logs",
    "attach": "wharfie.cli.container:attach",
    "events": "wharfie.cli.events:events",
    "exec": "wharfie.cli.container:exec_",
    "top": "wharfie.cli.container:top",
    "stats": "wharfie.cli.container:stats",
    "update": "wharfie.cli.container:update",
    "port": "wharfie.cli.container:port",
    "commit": "wharfie.cli.container:commit",
    "diff": "wharfie.cli.container:diff",
    "cp": "wharfie.cli.container:cp",
    "container": "wharfie.cli.container:container",
    "volume": "wharfie.cli.volume:volume",
    "build": "wharfie.cli.build:build_cmd",
    "builder": "wharfie.cli.builder:builder",
    "buildx": "wharfie.cli.builder:buildx",
    "sbom": "wharfie.cli.sbom:sbom",
    "scan": "wharfie.cli.scan:scan",
    "db": "wharfie.cli.db:db",
    "key": "wharfie.cli.key:key",
    "sign": "wharfie.cli.sign:sign",
    "verify": "wharfie.cli.verify:verify",
    "version": "wharfie.cli.info:version",
    "info": "wharfie.cli.info:info",
    "search": "wharfie.cli.search:search",
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
            command = getattr(importlib.import_module(module), attr)
            collector.settle()  # start-up is over: its objects live until exit
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(path_type=Path), envvar="WHARFIE_ROOT",
              help="State directory (default /var/lib/wharfie as root).")
@click.option("--debug", is_flag=True, envvar="WHARFIE_DEBUG", help="Show tracebacks.")
@click.version_option(__version__, prog_name="wharfie")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, debug: bool) -> None:
    """wharfie: build, manage, share and secure container images without a daemon."""
    # absolute: mount (run in the snapshotter's home) and runc resolve paths elsewhere;
    # ``run`` passes a build's invocation (cli.rebuild) in as the object
    ctx.obj = App(root=(root or default_root()).absolute(), debug=debug, invocation=ctx.obj)
