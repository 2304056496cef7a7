"""Run an image as a container: Docker's rules for ENTRYPOINT, CMD, ENV, WORKDIR and USER
on top of a writable snapshot of the image's layers.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import Conflict, InvalidInput, NotFound, WharfieError
from wharfie.images.imagestore import ImageStore
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import Sink as LayerSink
from wharfie.layers.writer import write_layer
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.platform import host_platform
from wharfie.runtime import runc
from wharfie.runtime.containers import Container, ContainerStore
from wharfie.runtime.spec import Bind, ProcessConfig, merge_env


@dataclass
class RunOptions:
    """``docker run``'s options that wharfie supports, as parsed from the command line."""

    args: list[str] = field(default_factory=list)
    entrypoint: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    network: str = "default"
    binds: list[Bind] = field(default_factory=list)
    name: str | None = None
    remove: bool = False
    tty: bool = False
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)
    shm_size: int = 64 << 20


def command_for(config: dict, args: list[str], entrypoint: str | None) -> list[str]:
    """ENTRYPOINT + CMD as Docker combines them: args replace CMD, --entrypoint resets both."""
    if entrypoint is not None:
        ep = [entrypoint] if entrypoint else []
        cmd = list(args)
    else:
        ep = list(config.get("Entrypoint") or [])
        cmd = list(args) if args else list(config.get("Cmd") or [])
    argv = ep + cmd
    if not argv:
        raise InvalidInput("no command specified")
    return argv


def process_for(config: dict, opts: RunOptions, hostname: str) -> ProcessConfig:
    """The process a container of an image with ``config`` runs under ``opts``."""
    network = "host" if opts.network in ("default", "host") else opts.network
    return ProcessConfig(
        args=command_for(config, opts.args, opts.entrypoint),
        env=merge_env(list(config.get("Env") or []), opts.env),
        cwd=opts.workdir or config.get("WorkingDir") or "/",
        user=opts.user if opts.user is not None else (config.get("User") or ""),
        network=network, hostname=hostname, binds=list(opts.binds), tty=opts.tty,
        extra_hosts=list(opts.extra_hosts), shm_size=opts.shm_size)


def parse_env(items: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``-e K=V`` as given; ``-e K`` takes K from our environment, or is dropped if unset."""
    environ = os.environ if environ is None else environ
    out = []
    for item in items:
        if "=" in item:
            if item.startswith("="):
                raise InvalidInput(f"invalid environment variable: {item}")
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def read_env_file(path: Path) -> list[str]:
    """Docker's --env-file: K=V or K per line, # comments and blank lines ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise InvalidInput(f"open {path}: {e.strerror}") from None
    items = [line.lstrip() for line in lines]
    return parse_env([i for i in items if i and not i.startswith("#")])


def parse_volume(spec: str) -> Bind:
    """``-v HOST:CTR[:ro|rw]``: only bind mounts of absolute host paths (no named volumes)."""
    parts = spec.split(":")
    mode = "rw"
    if len(parts) == 3:
        mode = parts.pop()
    if len(parts) != 2 or mode not in ("ro", "rw"):
        raise InvalidInput(f"invalid volume specification: '{spec}'")
    host, ctr = parts
    if not host.startswith("/"):
        raise InvalidInput(f"invalid volume specification: '{spec}': named volumes are not "
                           "supported, use an absolute host path")
    if not ctr.startswith("/"):
        raise InvalidInput(f"invalid mount config: '{ctr}' is not an absolute path")
    Path(host).mkdir(parents=True, exist_ok=True)  # as Docker does for -v
    return Bind(Path(host), ctr, readonly=mode == "ro")


def resolve_image(store: ImageStore, name: str) -> Image:
    """The image a name designates; for an index, the child for this host's platform."""
    target = store.open_target(name)
    if isinstance(target, ImageIndex):
        return target.image_for(host_platform())
    return target


def run_image(root: Path, store: ImageStore, name: str, opts: RunOptions, *,
              stdin: BinaryIO | int | None = None, stdout: runc.Sink = None,
              stderr: runc.Sink = None,
              on_created: Callable[[Container], None] | None = None) -> tuple[Container, int]:
    """Create a container of image ``name``, run it to the end, keep or remove it."""
    from wharfie import snapshots

    image = resolve_image(store, name)
    config = image.config.config
    containers = ContainerStore(root)
    runtime = runc.find_runtime(Path(root) / "runtime")
    snap = snapshots.for_root(root)
    with store.content.lock(shared=True):
        chain = snapshots.unpack_image(snap, image)
    argv = command_for(config, opts.args, opts.entrypoint)
    c = containers.create(name=opts.name, image=name, image_id=str(image.id), command=argv)
    hostname = socket.gethostname() if opts.network in ("default", "host") else c.id[:12]
    cfg = process_for(config, opts, hostname)
    started = False
    try:
        # --rm: nothing of it outlives the run, so unmounting need not wait for the disk
        rootfs = snap.prepare(c.snapshot, chain, volatile=opts.remove)
        c.state, c.pid = "running", os.getpid()
        containers.save(c)
        if on_created:
            on_created(c)
        started = True
        code = 125  # wharfie's own failure, unless the runtime says otherwise
        try:
            code = runtime.run(rootfs, cfg, stdin=stdin, stdout=stdout, stderr=stderr,
                               tag=c.id[:12])
        except WharfieError as e:
            code = e.exit_code if e.exit_code in (126, 127) else 125
            raise
        finally:
            c.state, c.pid, c.finished = "exited", None, time.time()
            c.exit_code = code
            containers.save(c)
    finally:
        if opts.remove or not started:
            remove_container(root, c)
    return c, code


def remove_container(root: Path, c: Container, *, force: bool = False) -> None:
    """Delete a container's snapshot and record; a running one only with ``force``,
    which kills it first (its ``wharfie run`` then exits 137, as with ``docker rm -f``)."""
    from wharfie import snapshots

    if c.running:
        if not force:
            raise Conflict(f"cannot remove container {c.name}: container is running: "
                           "stop it or use --force")
        assert c.pid is not None
        runtime = runc.find_runtime(Path(root) / "runtime")
        runtime.delete(runc.container_id(c.pid, c.id[:12]))
        store = ContainerStore(root)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # let its wharfie run record the end
            try:
                if not store.get(c.id).running:
                    break
            except NotFound:
                break
            time.sleep(0.05)
    snapshots.for_root(root).remove(c.snapshot)
    ContainerStore(root).delete(c)


def export_rootfs(root: Path, store: ImageStore, name: str, sink: LayerSink) -> None:
    """Write a container's root filesystem, or an image's flattened one, as a plain tar."""
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    try:
        c: Container | None = ContainerStore(root).get(name)
    except NotFound:
        c = None
    if c is not None:
        write_layer(diff_trees(None, snap.path(c.snapshot)), sink, compression="none")
        return
    image = resolve_image(store, name)
    with store.content.lock(shared=True):
        chain = snapshots.unpack_image(snap, image)
    if chain is None:
        write_layer([], sink, compression="none")
        return
    view = snap.view(chain)
    try:
        write_layer(diff_trees(None, view), sink, compression="none")
    finally:
        snap.release(chain)


@dataclass(frozen=True)
class ContainerUsage:
    """A container and the bytes its writable layer adds (Docker's SizeRw)."""

    container: Container
    size: int

    @property
    def active(self) -> bool:
        return self.container.running


def container_usage(root: Path) -> list[ContainerUsage]:
    """Every container with the size of what it changed: the non-directory entries of its
    snapshot's changes, as Docker's naive diff sizes them (``system df``)."""
    found = ContainerStore(root).list()
    if not found:
        return []
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    out = []
    for c in found:
        try:
            changes = snap.changes(c.snapshot)
        except NotFound:  # removed with --rm, or never prepared
            changes = []
        sizes = (os.lstat(ch.source) for ch in changes if ch.source)
        out.append(ContainerUsage(c, sum(st.st_size for st in sizes
                                         if not stat.S_ISDIR(st.st_mode))))
    return out
