"""``wharfie run``, ``export``, ``ps`` and ``rm``: containers with Docker's flags and exit codes.

``run`` exits with the container's status; wharfie's own failures exit 125, a command
that cannot be invoked 126 and one that is not found 127, as ``docker run`` does.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from wharfie.cli.context import App, pass_app, sigterm_as_interrupt
from wharfie.errors import WharfieError
from wharfie.fs.output import open_output


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits.")
@click.option("-e", "--env", "env", multiple=True, help="Set an environment variable (K=V or K).")
@click.option("--env-file", multiple=True, type=click.Path(path_type=Path),
              help="Read environment variables from a file.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("--entrypoint", help="Overwrite the image's ENTRYPOINT (resets its CMD).")
@click.option("--network", "--net", default="default", show_default=True,
              type=click.Choice(["default", "host", "none"]),
              help="host (also the default: no bridge without a daemon) or none (only lo).")
@click.option("-v", "--volume", multiple=True, help="Bind mount HOST:CONTAINER[:ro].")
@click.option("--name", help="Assign a name to the container.")
@click.option("--add-host", "add_hosts", multiple=True,
              help="Add a custom host-to-IP mapping (host:ip).")
@click.option("--shm-size", help="Size of /dev/shm (default 64MB).")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def run(app: App, remove: bool, env: tuple[str, ...], env_file: tuple[Path, ...],
        workdir: str | None, user: str | None, entrypoint: str | None, network: str,
        volume: tuple[str, ...], name: str | None, add_hosts: tuple[str, ...],
        shm_size: str | None, interactive: bool, tty: bool, image: str,
        command: tuple[str, ...]) -> int:
    """Run a command in a new container."""
    from wharfie.runtime.launch import (
        RunOptions,
        parse_env,
        parse_volume,
        read_env_file,
        run_image,
    )
    from wharfie.runtime.spec import parse_host
    from wharfie.units import parse_size

    try:
        if tty and not sys.stdin.isatty():
            raise WharfieError("the input device is not a TTY")
        env_list = [e for f in env_file for e in read_env_file(f)] + parse_env(list(env))
        opts = RunOptions(args=list(command), entrypoint=entrypoint, env=env_list,
                          workdir=workdir, user=user, network=network,
                          extra_hosts=[parse_host(h) for h in add_hosts],
                          shm_size=parse_size(shm_size, binary=True) if shm_size else 64 << 20,
                          binds=[parse_volume(v) for v in volume], name=name, remove=remove,
                          tty=tty)
        with sigterm_as_interrupt():
            _, code = run_image(
                app.root, app.images, image, opts,
                stdin=sys.stdin.fileno() if interactive or tty else None,
                stdout=None if tty else sys.stdout.buffer,
                stderr=None if tty else sys.stderr.buffer)
    except WharfieError as e:
        if e.exit_code not in (126, 127):
            e.exit_code = 125
        raise
    return code


@click.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to a file instead of STDOUT.")
@click.argument("target", metavar="CONTAINER|IMAGE")
@pass_app
def export(app: App, output: Path | None, target: str) -> None:
    """Export a container's or an image's root filesystem as a tar archive."""
    from wharfie.runtime.launch import export_rootfs

    if output is None:
        if sys.stdout.isatty():
            raise WharfieError("cowardly refusing to save to a terminal. "
                               "Use the -o flag or redirect")
        export_rootfs(app.root, app.images, target, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with open_output(output) as f:
        export_rootfs(app.root, app.images, target, f)


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default: running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@pass_app
def ps(app: App, all_: bool, quiet: bool, no_trunc: bool) -> None:
    """List containers."""
    from wharfie.cli.format import ellipsis, since, tabwrite
    from wharfie.runtime.containers import ContainerStore

    found = [c for c in ContainerStore(app.root).list() if all_ or c.running]
    if quiet:
        for c in found:
            click.echo(c.id if no_trunc else c.id[:12])
        return
    lines = ["CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES"]
    now = time.time()
    for c in found:
        cmd = " ".join(c.command)
        if c.running:
            status = f"Up {since(c.created, now).removesuffix(' ago')}"
        elif c.state == "created":
            status = "Created"
        elif c.state == "running":  # its wharfie process died without recording the end
            status = "Dead"
        else:
            status = f"Exited ({c.exit_code}) {since(c.finished, now)}"
        lines.append("\t".join([c.id if no_trunc else c.id[:12], c.image,
                                f'"{cmd if no_trunc else ellipsis(cmd, 20)}"',
                                since(c.created, now), status, c.name]))
    click.echo(tabwrite(lines), nl=False)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Remove even if its wharfie run is alive.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def rm(app: App, force: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    from wharfie.runtime.containers import ContainerStore
    from wharfie.runtime.launch import remove_container

    store = ContainerStore(app.root)
    failed = 0
    for ref in containers:
        try:
            remove_container(app.root, store.get(ref), force=force)
        except WharfieError as e:
            click.echo(f"wharfie: error: {e.message}", err=True)
            failed = e.exit_code or 1
            continue
        click.echo(ref)
    if failed:
        sys.exit(failed)
