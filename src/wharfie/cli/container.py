"""The container lifecycle commands (``start``, ``stop``, ``logs``, ``exec``, ``commit``,
``diff``, ``cp``...) and the ``container`` group that holds them with run, ps, rm."""

from __future__ import annotations

import json
import sys

import click

from wharfie.cli.context import App, each, pass_app
from wharfie.errors import InvalidInput, WharfieError


def _each(refs: tuple[str, ...], action) -> None:
    """Apply ``action`` to each container, echoing it; docker's exit 1 if any failed."""
    if each(refs, action, echo=True)[1]:
        sys.exit(1)


@click.command("start")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach STDIN (not supported yet).")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def start(app: App, attach: bool, interactive: bool, containers: tuple[str, ...]) -> int:
    """Start one or more stopped containers."""
    if not attach:
        _each(containers, app.client.start)
        return 0
    if len(containers) > 1:
        raise InvalidInput("you cannot start and attach multiple containers at once")
    c = app.client.start(containers[0])
    for e in app.client.logs(c.id, follow=True, since=f"{c.state.started_at - 0.001:.9f}"):
        out = sys.stdout if e.stream == "stdout" else sys.stderr
        out.buffer.write(e.data)
        out.flush()
    return app.client.wait(c.id)


@click.command("stop")
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.option("-s", "--signal", help="Signal to send (default: the stop signal).")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def stop(app: App, timeout: int | None, signal: str | None, containers: tuple[str, ...]) -> None:
    """Stop one or more running containers."""
    _each(containers, lambda ref: app.client.stop(ref, timeout, signal))


@click.command("restart")
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def restart(app: App, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    _each(containers, lambda ref: app.client.restart(ref, timeout))


@click.command("kill")
@click.option("-s", "--signal", default="KILL", help="Signal to send (default KILL).")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def kill(app: App, signal: str, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    _each(containers, lambda ref: app.client.kill(ref, signal))


@click.command("pause")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def pause(app: App, containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    _each(containers, app.client.pause)


@click.command("unpause")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def unpause(app: App, containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    _each(containers, app.client.unpause)


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def wait(app: App, containers: tuple[str, ...]) -> None:
    """Block until containers stop, then print their exit codes."""
    for ref in containers:
        click.echo(app.client.wait(ref))


@click.command("update")
@click.option("-m", "--memory", help="Memory limit (e.g. 512m).")
@click.option("--memory-swap", help="Memory plus swap limit; -1: unlimited swap.")
@click.option("--cpus", help="Number of CPUs (e.g. 1.5).")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--pids-limit", type=int, help="Limit on the number of processes.")
@click.option("--restart", help="Restart policy: no, on-failure[:N], always, unless-stopped.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def update(app: App, memory: str | None, memory_swap: str | None, cpus: str | None,
           cpu_shares: int | None, pids_limit: int | None, restart: str | None,
           containers: tuple[str, ...]) -> None:
    """Update the resource limits of one or more containers."""
    from wharfie.containers.resources import Limits

    limits = Limits.parse(memory=memory, memory_swap=memory_swap, cpus=cpus,
                          cpu_shares=cpu_shares, pids_limit=pids_limit)
    _each(containers, lambda ref: app.client.update(ref, limits, restart=restart))


@click.command("rename")
@click.argument("container")
@click.argument("name")
@pass_app
def rename(app: App, container: str, name: str) -> None:
    """Rename a container."""
    app.client.rename(container, name)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Lines to show from the end (default all).")
@click.option("--since", help="Since a timestamp or relative (42m).")
@click.option("--until", help="Before a timestamp or relative (42m).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details (none are kept).")
@click.argument("container")
@pass_app
def logs(app: App, follow: bool, tail: str, since: str | None, until: str | None,
         timestamps: bool, details: bool, container: str) -> None:
    """Fetch the logs of a container: its stdout to stdout, its stderr to stderr."""
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise InvalidInput(f'invalid value for "tail": "{tail}"')
    n = None if tail == "all" or int(tail) < 0 else int(tail)
    for e in app.client.logs(container, follow=follow, tail=n, since=since, until=until):
        out = sys.stdout if e.stream == "stdout" else sys.stderr
        if timestamps:
            out.buffer.write(e.stamp.encode() + b" ")
        out.buffer.write(e.data)
        out.flush()


@click.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True,
              help="Proxy received signals to the container (default true).")
@click.argument("container")
@pass_app
def attach(app: App, no_stdin: bool, sig_proxy: bool, container: str) -> int:
    """Attach to a running container's output (and proxy Ctrl-C and SIGTERM to it)."""
    if not no_stdin and app.client.container(container).config.get("OpenStdin"):
        click.echo("wharfie: attaching stdin is not supported yet: attached to the output "
                   "only", err=True)

    def write(stream: str, data: bytes) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        out.buffer.write(data)
        out.flush()

    return app.client.attach(container, write, sig_proxy=sig_proxy)


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--privileged", is_flag=True, help="Extended privileges (ignored).")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def exec_(app: App, interactive: bool, tty: bool, detach: bool, user: str | None,
          workdir: str | None, env: tuple[str, ...], privileged: bool, container: str,
          command: tuple[str, ...]) -> int:
    """Execute a command in a running container."""
    from wharfie.containers.launch import parse_env

    if tty and not sys.stdin.isatty():
        raise WharfieError("the input device is not a TTY")
    try:
        return app.client.exec(container, list(command), user=user, workdir=workdir,
                               env=parse_env(list(env)), tty=tty, interactive=interactive,
                               detach=detach)
    except WharfieError as e:
        if e.exit_code not in (126, 127):
            e.exit_code = 1 if "is not running" in e.message or "No such" in e.message else 126
        raise


@click.command("top")
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def top(app: App, container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    click.echo(app.client.top(container, list(ps_args)), nl=False)


@click.command("stats")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default: running).")
@click.option("--no-stream", is_flag=True, help="Print the first result and exit.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Go template, table or json.")
@click.argument("containers", nargs=-1)
@pass_app
def stats(app: App, all_: bool, no_stream: bool, no_trunc: bool, fmt: str | None,
          containers: tuple[str, ...]) -> None:
    """Display containers' resource usage (from their cgroups)."""
    from wharfie.cli.format import bytes_size, human_size, write_rows

    while True:
        rows = [{"ID": s.container.id if no_trunc else s.container.id[:12],
                 "Container": s.container.id if no_trunc else s.container.id[:12],
                 "Name": s.container.name, "CPUPerc": f"{s.cpu_percent:.2f}%",
                 "MemUsage": f"{bytes_size(s.memory)} / {bytes_size(s.memory_limit)}",
                 "MemPerc": f"{s.memory_percent:.2f}%",
                 "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
                 "BlockIO": f"{human_size(s.block_read)} / {human_size(s.block_write)}",
                 "PIDs": str(s.pids)}
                for s in app.client.stats(containers, all=all_)]
        if not no_stream and sys.stdout.isatty():
            click.echo("\033[2J\033[H", nl=False)  # docker redraws the table in place
        write_rows(fmt, rows, default="table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}"
                   "\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
                   headers={"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME",
                            "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                            "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                            "PIDs": "PIDS"}, echo=lambda text: click.echo(text, nl=False))
        if no_stream:
            return


@click.command("port")
@click.argument("container")
@click.argument("private", required=False)
@pass_app
def port(app: App, container: str, private: str | None) -> None:
    """List port mappings of a container."""
    c = app.client.container(container)
    bindings = c.host_config.get("PortBindings") or {}
    if private is not None:
        key = private if "/" in private else f"{private}/tcp"
        if key not in bindings:
            raise WharfieError(f"No public port '{key}' published for {container}")
        for b in bindings[key]:
            click.echo(f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}")
        return
    for key, bs in bindings.items():
        for b in bs:
            click.echo(f"{key} -> {b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}")


@click.command("inspect")
@click.option("-f", "--format", "fmt", help="Go template.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def inspect(app: App, fmt: str | None, containers: tuple[str, ...]) -> None:
    """Display detailed information on one or more containers."""
    docs, failed = each(containers, app.client.inspect_container)
    if fmt:
        from wharfie.cli.format import Template

        for d in docs:
            click.echo(Template(fmt).render(d))
    else:
        click.echo(json.dumps(docs, indent=4) if docs else "[]")
    if failed:
        sys.exit(1)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune(app: App, force: bool) -> None:
    """Remove all stopped containers."""
    if not force and not click.confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to "
            "continue?", default=False):
        return
    from wharfie.cli.format import prune_report

    gone, freed = app.client.prune_containers()
    click.echo(prune_report([("Deleted Containers", gone)], freed), nl=False)


@click.command("commit")
@click.option("-a", "--author", default="", help="Author (\"Jane <jane@example.com>\").")
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply a Dockerfile instruction to the image.")
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-p", "--pause/--no-pause", default=True, help="Pause the container meanwhile.")
@click.argument("container")
@click.argument("repository", required=False)
@pass_app
def commit(app: App, author: str, changes: tuple[str, ...], message: str, pause: bool,
           container: str, repository: str | None) -> None:
    """Create a new image from a container's changes."""
    click.echo(app.client.commit(container, repository, message=message, author=author,
                                 changes=changes, pause=pause))


@click.command("diff")
@click.argument("container")
@pass_app
def diff(app: App, container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    for kind, path in app.client.diff(container):
        click.echo(f"{kind} {path}")


@click.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Keep uid/gid.")
@click.option("-L", "--follow-link", is_flag=True, help="Follow a symlink in SRC.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output.")
@click.argument("src")
@click.argument("dest")
@pass_app
def cp(app: App, archive: bool, follow_link: bool, quiet: bool, src: str, dest: str) -> None:
    """Copy files between a container and the local filesystem."""
    def split(arg: str) -> tuple[str | None, str]:
        head, sep, tail = arg.partition(":")
        if sep and not head.startswith(("/", ".")) and "/" not in head:
            return head, tail
        return None, arg

    (sc, sp), (dc, dp) = split(src), split(dest)
    if (sc is None) == (dc is None):
        raise InvalidInput("must specify at least one container source" if sc is None else
                           "copying between containers is not supported")
    if sc is not None:
        if dp == "-":
            app.client.copy_from_container(sc, sp, sys.stdout.buffer, follow=follow_link)
            return
        app.client.copy_from_container(sc, sp, dp, follow=follow_link, archive=archive)
    else:
        app.client.copy_to_container(dc, sp, dp, follow=follow_link, archive=archive)


@click.group("container")
def container() -> None:
    """Manage containers."""


def _fill_group() -> None:
    from wharfie.cli.run import create, export, ps, rm, run

    for cmd in (start, stop, restart, kill, pause, unpause, wait, rename, logs, attach, exec_, top,
                stats, update, port, inspect, prune, commit, diff, cp, run, create, rm, export):
        container.add_command(cmd)
    for alias in ("ls", "ps", "list"):
        container.add_command(ps, alias)
    container.add_command(rm, "remove")


_fill_group()
