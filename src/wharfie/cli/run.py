"""``wharfie run``, ``create``, ``export``, ``ps`` and ``rm``: containers with Docker's flags
and exit codes.

``run`` exits with the container's status; wharfie's own failures exit 125, a command
that cannot be invoked 126 and one that is not found 127, as ``docker run`` does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from wharfie.cli.completion import complete_images
from wharfie.cli.context import App, pass_app
from wharfie.errors import WharfieError
from wharfie.fs.output import open_output

# run's -h is --hostname, as docker's: help is --help only
RUN_SETTINGS = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


def container_options(f: Callable) -> Callable:
    """The flags ``create`` and ``run`` share."""
    opts = [
        click.option("--rm", "remove", is_flag=True,
                     help="Remove the container when it exits."),
        click.option("-e", "--env", "env", multiple=True,
                     help="Set an environment variable (K=V or K)."),
        click.option("--env-file", multiple=True, type=click.Path(path_type=Path),
                     help="Read environment variables from a file."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("--entrypoint", help="Overwrite the image's ENTRYPOINT (resets its CMD)."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--network", "--net", default="default", show_default=True,
                     help="default/bridge (a private network via slirp4netns), host or none."),
        click.option("-p", "--publish", multiple=True,
                     help="Publish a port: [IP:]HOST:CONTAINER[/udp]."),
        click.option("-P", "--publish-all", is_flag=True,
                     help="Publish all exposed ports on free host ports."),
        click.option("--expose", multiple=True, help="Expose a port: PORT[-END][/PROTO]."),
        click.option("--pid", default="", help="PID namespace: host, or private (default)."),
        click.option("--ipc", default="", help="IPC namespace: host, or private (default)."),
        click.option("--device", "devices", multiple=True,
                     help="Add a host device: HOST[:CONTAINER[:PERMS]]."),
        click.option("--platform", help="Pull the image for this platform (os/arch[/variant])."),
        click.option("--log-driver", default="json-file", show_default=True,
                     help="json-file, local or none (keeps no logs)."),
        click.option("-v", "--volume", multiple=True,
                     help="Bind mount HOST:CONTAINER[:ro] or named volume NAME:CONTAINER."),
        click.option("--mount", "mounts", multiple=True,
                     help="type=bind|volume|tmpfs,source=...,target=...[,readonly]."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs: PATH[:OPTIONS]."),
        click.option("--name", help="Assign a name to the container."),
        click.option("-l", "--label", "labels", multiple=True, help="Set a label K=V."),
        click.option("--add-host", "add_hosts", multiple=True,
                     help="Add a custom host-to-IP mapping (host:ip)."),
        click.option("--dns", multiple=True, help="Set a DNS server."),
        click.option("--shm-size", help="Size of /dev/shm (default 64MB)."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("--cap-add", multiple=True, help="Add a Linux capability."),
        click.option("--cap-drop", multiple=True, help="Drop a Linux capability."),
        click.option("--privileged", is_flag=True, help="Give extended privileges."),
        click.option("--init", is_flag=True, help="Run an init (tini) as PID 1."),
        click.option("--stop-signal", help="Signal to stop the container."),
        click.option("--stop-timeout", type=int, help="Seconds to wait before killing it."),
        click.option("--restart", default="no", help="no, on-failure[:N], always, unless-stopped."),
        click.option("--pull", default="missing", help="always, missing or never."),
        click.option("-m", "--memory", help="Memory limit (e.g. 512m)."),
        click.option("--memory-swap", help="Memory plus swap limit; -1: unlimited swap."),
        click.option("--cpus", help="Number of CPUs (e.g. 1.5)."),
        click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
        click.option("--pids-limit", type=int, help="Limit on the number of processes."),
        click.option("--ulimit", "ulimits", multiple=True, help="Ulimit: NAME=SOFT[:HARD]."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.argument("image", shell_complete=complete_images),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def create_options(kw: dict):
    """CreateOptions from the shared flags (popped from ``kw``)."""
    from wharfie.containers.launch import parse_env, read_env_file
    from wharfie.containers.lifecycle import CreateOptions
    from wharfie.containers.resources import Limits
    from wharfie.units import parse_size

    env = [e for f in kw.pop("env_file") for e in read_env_file(f)] + parse_env(list(kw.pop("env")))
    labels = dict(lbl.partition("=")[::2] for lbl in kw.pop("labels"))
    shm = kw.pop("shm_size")
    return CreateOptions(
        args=list(kw.pop("command")), entrypoint=kw.pop("entrypoint"), env=env,
        workdir=kw.pop("workdir"), user=kw.pop("user"), hostname=kw.pop("hostname"),
        network=kw.pop("network"), publish=list(kw.pop("publish")),
        extra_hosts=list(kw.pop("add_hosts")), dns=list(kw.pop("dns")),
        volumes=list(kw.pop("volume")), mounts=list(kw.pop("mounts")),
        tmpfs=list(kw.pop("tmpfs")), labels=labels, name=kw.pop("name"),
        remove=kw.pop("remove"), tty=kw.pop("tty"), interactive=kw.pop("interactive"),
        read_only=kw.pop("read_only"), cap_add=list(kw.pop("cap_add")),
        cap_drop=list(kw.pop("cap_drop")), privileged=kw.pop("privileged"),
        init=kw.pop("init"), stop_signal=kw.pop("stop_signal"),
        stop_timeout=kw.pop("stop_timeout"), restart=kw.pop("restart"),
        shm_size=parse_size(shm, binary=True) if shm else 64 << 20,
        limits=Limits.parse(memory=kw.pop("memory"), memory_swap=kw.pop("memory_swap"),
                            cpus=kw.pop("cpus"), cpu_shares=kw.pop("cpu_shares"),
                            pids_limit=kw.pop("pids_limit"), ulimits=list(kw.pop("ulimits"))),
        publish_all=kw.pop("publish_all"), expose=list(kw.pop("expose")), pid=kw.pop("pid"),
        ipc=kw.pop("ipc"), devices=list(kw.pop("devices")), platform=kw.pop("platform"),
        log_driver=kw.pop("log_driver"))


def _unable_to_find(image: str) -> None:
    from wharfie.oci.reference import parse_reference

    try:
        shown = parse_reference(image).familiar()
    except WharfieError:
        shown = image
    click.echo(f"Unable to find image '{shown}' locally", err=True)


def _as_run_error(e: WharfieError) -> WharfieError:
    if e.exit_code not in (126, 127):
        e.exit_code = 125
    return e


@click.command("run", context_settings=RUN_SETTINGS)
@container_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background; print its ID.")
@click.option("--sig-proxy/--no-sig-proxy", default=True,
              help="Forward SIGINT/SIGTERM to the container (--sig-proxy=false: don't).")
@pass_app
def run(app: App, detach: bool, sig_proxy: bool, image: str, pull: str, **kw) -> int:
    """Create and run a new container from an image."""
    import termios
    import tty as tty_

    raw = None
    try:
        opts = create_options(kw)
        if opts.tty and not detach and not sys.stdin.isatty():
            raise WharfieError("the input device is not a TTY")
        if opts.tty and not detach:
            raw = termios.tcgetattr(0)
            tty_.setraw(0)
        c, code = app.client.run(image, opts, detach=detach, pull=pull, sig_proxy=sig_proxy,
                                 on_pull=_unable_to_find)
    except WharfieError as e:
        raise _as_run_error(e) from None
    finally:
        if raw is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, raw)
    if detach:
        click.echo(c.id)
        return 0
    return code if code is not None else 125


@click.command("create", context_settings=RUN_SETTINGS)
@container_options
@pass_app
def create(app: App, image: str, pull: str, **kw) -> None:
    """Create a new container (not started); print its ID."""
    try:
        c = app.client.create(image, create_options(kw), pull=pull, on_pull=_unable_to_find)
    except WharfieError as e:
        raise _as_run_error(e) from None
    click.echo(c.id)


@click.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to a file instead of STDOUT.")
@click.argument("target", metavar="CONTAINER|IMAGE")
@pass_app
def export(app: App, output: Path | None, target: str) -> None:
    """Export a container's or an image's root filesystem as a tar archive."""
    from wharfie.containers.launch import export_rootfs

    if output is None:
        if sys.stdout.isatty():
            raise WharfieError("cowardly refusing to save to a terminal. "
                               "Use the -o flag or redirect")
        export_rootfs(app.root, app.images, target, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with open_output(output) as f:
        export_rootfs(app.root, app.images, target, f)


def status_text(c, now: float) -> str:
    """docker ps's STATUS: ``Up 3 seconds``, ``Exited (0) 2 minutes ago``, ``Created``."""
    from wharfie.cli.format import human_duration

    status = c.status
    if status == "created":
        return "Created"
    if status in ("running", "paused"):
        up = f"Up {human_duration(now - (c.state.started_at or now))}"
        return up + " (Paused)" if status == "paused" else up
    ago = human_duration(now - (c.finished or now))
    if status == "restarting":
        return f"Restarting ({c.exit_code}) {ago} ago"
    return f"Exited ({c.exit_code}) {ago} ago"


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default: running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers.")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter: status=, name=, ...")
@click.option("--format", "fmt", help="Go template, table or json.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@pass_app
def ps(app: App, all_: bool, quiet: bool, last: int, latest: bool, size: bool,
       filters: tuple[str, ...], fmt: str | None, no_trunc: bool) -> None:
    """List containers."""
    from wharfie.cli.format import ellipsis, human_size, since, write_rows
    from wharfie.containers.inspect import ports_text

    chosen: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq:
            raise WharfieError(f"bad format of filter (expected name=value): {f}")
        chosen.setdefault(k, []).append(v)
    if latest:
        last = 1
    found = app.client.containers(all=all_ or last > 0, filters=chosen)
    if last > 0:
        found = found[:last]
    if quiet:
        for c in found:
            click.echo(c.id if no_trunc else c.id[:12])
        return
    now = time.time()
    sizes = {}
    if size:
        from wharfie.containers.launch import container_usage

        sizes = {u.container.id: u.size for u in container_usage(app.root)}
    rows = []
    for c in found:
        cmd = " ".join(c.command)
        rows.append({"ID": c.id if no_trunc else c.id[:12], "Image": c.image,
                     "Command": f'"{cmd if no_trunc else ellipsis(cmd, 20)}"',
                     "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z",
                                                time.localtime(c.created)),
                     "RunningFor": since(c.created, now), "Status": status_text(c, now),
                     "State": c.status, "Ports": ports_text(c), "Names": c.name,
                     "Size": f"{human_size(sizes.get(c.id, 0))} (virtual)" if size else "",
                     "Labels": ",".join(f"{k}={v}" for k, v in
                                        (c.config.get("Labels") or {}).items())})
    cols = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t" \
        "{{.Names}}" + ("\t{{.Size}}" if size else "")
    write_rows(fmt, rows, default="table " + cols,
               headers={"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                        "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
                        "Status": "STATUS", "State": "STATE", "Ports": "PORTS",
                        "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS"},
               echo=lambda text: click.echo(text, nl=False))


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove its anonymous volumes.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def rm(app: App, force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    failed = 0
    for ref in containers:
        try:
            app.client.remove_container(ref, force=force, volumes=volumes)
        except WharfieError as e:
            click.echo(f"wharfie: error: {e.message}", err=True)
            failed = e.exit_code or 1
            continue
        click.echo(ref)
    if failed:
        sys.exit(failed)
