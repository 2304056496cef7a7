"""``RUN --mount``: cache, secret and bind mounts as host directories bound in; tmpfs;
ssh, a relay to the client's SSH agent (``sshagent``).

A mount's contents never reach a layer. The mount points runc creates for targets that
did not exist stay in it, empty, as dockerd 20.10's BuildKit leaves them (BuildKit 0.10's
MountStubsCleaner removes them; images must match the docker users run today). A secret's
value never enters a cache key (only its id and target do).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.builder.context import HashCache, checksum_tree
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.filecopy import CopyOptions, copy_sources, filtered_path
from wharfie.dockerfile.instructions import Mount
from wharfie.errors import WharfieError
from wharfie.fs.private import abandoned, hold
from wharfie.runtime import Bind, Tmpfs
from wharfie.snapshots.overlay import unmount
from wharfie.units import parse_size


class MountError(WharfieError):
    """A RUN --mount that cannot be set up."""


@dataclass
class Secret:
    """A build secret: ``--secret id=ID,src=PATH`` or ``--secret id=ID,env=VAR``."""

    id: str
    data: bytes


def parse_secret(spec: str) -> Secret:
    """Read one ``--secret`` flag value (the value is read now, never stored)."""
    opts = dict(p.partition("=")[::2] for p in spec.split(",") if p)
    sid = opts.get("id")
    src = opts.get("src") or opts.get("source")
    env = opts.get("env")
    if not sid:
        raise MountError(f"invalid --secret {spec!r}: id= is required")
    if src:
        try:
            return Secret(sid, Path(src).expanduser().read_bytes())
        except OSError as e:
            raise MountError(f"secret {sid}: cannot read {src}: {e.strerror}") from None
    name = env or sid
    if name not in os.environ:
        raise MountError(f"secret {sid}: environment variable {name} is not set")
    return Secret(sid, os.environ[name].encode())


def key_of(m: Mount) -> dict:
    """What of a mount belongs in the RUN cache key (never secret contents)."""
    return {"type": m.type, **{k: v for k, v in sorted(m.options.items())}}


@dataclass(frozen=True)
class MountSource:
    """What a bind mount reads: a stage's root, or a context without its ignored files."""

    root: Path
    ignore: PatternMatcher | None = None  # a context's .dockerignore


@dataclass
class MountContext:
    """What mounts can draw on while one build runs."""

    cache_root: Path                      # persistent cache mounts live here
    context: MountSource | None           # bind mounts without from=
    stage_dirs: dict[str, MountSource]    # bind mounts with from=<stage, image or context>
    secrets: dict[str, Secret]
    scratch: Path                         # where per-step temporary dirs go
    ssh: dict[str, Path] = field(default_factory=dict)  # --ssh: id -> agent socket


@contextlib.contextmanager
def prepared(mounts: list[Mount], ctx: MountContext, workdir: str,
             env: list[str]) -> Iterator[tuple[list[Bind | Tmpfs], list[str]]]:
    """Host binds for ``mounts`` (and env entries for env= secrets); cleans up after."""
    binds: list[Bind | Tmpfs] = []
    extra_env: list[str] = []
    ssh_count = 0
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(_held_dir(ctx.scratch))
        for n, m in enumerate(mounts):
            target = m.target
            if target and not target.startswith("/"):
                target = workdir.rstrip("/") + "/" + target
            if m.type == "cache":
                binds.append(Bind(_cache_dir(m, ctx, stack), target, _readonly(m)))
            elif m.type == "secret":
                sid = m.options.get("id") or os.path.basename(target or "")
                secret = ctx.secrets.get(sid)
                if secret is None:
                    if m.options.get("required", "false").lower() == "true":
                        raise MountError(f"secret {sid} is required but was not given "
                                         "(--secret id=...)")
                    continue
                if m.options.get("env"):
                    extra_env.append(f"{m.options['env']}={secret.data.decode()}")
                    if not m.options.get("target"):
                        continue
                path = _in_memory(tmp / "secrets") / f"secret-{n}"
                path.write_bytes(secret.data)
                os.chmod(path, int(m.options.get("mode", "0400"), 8))
                os.chown(path, int(m.options.get("uid", "0")), int(m.options.get("gid", "0")))
                binds.append(Bind(path, target or f"/run/secrets/{sid}", True))
            elif m.type == "bind":
                binds.append(_bind(m, ctx, tmp / f"bind-{n}", target))
            elif m.type == "ssh":
                sid = m.options.get("id") or "default"
                agent = ctx.ssh.get(sid)
                if agent is None:
                    if m.options.get("required", "false").lower() == "true":
                        raise MountError(f"no SSH agent {sid!r} was given (--ssh {sid})")
                    continue
                target = target or f"/run/buildkit/ssh_agent.{ssh_count}"
                ssh_count += 1
                relay_path = tmp / f"ssh-{n}.sock"
                from wharfie.builder.sshagent import AgentRelay  # sockets: only for ssh

                relay = AgentRelay(relay_path, agent, int(m.options.get("uid", "0")),
                                   int(m.options.get("gid", "0")),
                                   int(m.options.get("mode", "0600"), 8))
                stack.callback(relay.close)
                binds.append(Bind(relay_path, target, False))
                if not any(e.startswith("SSH_AUTH_SOCK=") for e in env + extra_env):
                    extra_env.append(f"SSH_AUTH_SOCK={target}")
            elif m.type == "tmpfs":
                size = m.options.get("size")
                binds.append(Tmpfs(target, parse_size(size, binary=True) if size else None))
            else:
                raise MountError(f"--mount type={m.type} is not supported by wharfie")
        yield binds, extra_env


@contextlib.contextmanager
def _held_dir(scratch: Path) -> Iterator[Path]:
    """A new ``mounts-*`` dir in ``scratch``, flocked while the step runs, so that a later
    start can tell one a killed build left (``sweep_abandoned``) from a live one."""
    new = Path(tempfile.mkdtemp(dir=scratch, prefix=".mounts-"))
    fd = hold(new)
    try:
        path = new.with_name(new.name[1:])
        os.rename(new, path)  # named mounts-* only once held: a sweep never sees it unheld
        try:
            yield path
        finally:
            _remove_mounts_dir(path)
    finally:
        os.close(fd)


def _in_memory(d: Path) -> Path:
    """``d`` as a private tmpfs (made on first use): secrets never reach the disk."""
    if not d.is_dir():
        d.mkdir(mode=0o700)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,nosuid,nodev,noexec",
                              "tmpfs", str(d)], capture_output=True, text=True)
        if res.returncode != 0:
            raise MountError(f"cannot mount a tmpfs for secrets on {d}: {res.stderr.strip()}")
    return d


def _remove_mounts_dir(path: Path) -> None:
    unmount(path / "secrets", lazy=True)
    shutil.rmtree(path)


def sweep_abandoned(scratch: Path) -> None:
    """Remove the ``mounts-*`` dirs (secrets' tmpfs included) of builds killed mid-RUN:
    those whose flock is gone. A live build's are left alone."""
    for path in abandoned(scratch.glob("mounts-*")):
        _remove_mounts_dir(path)


def _readonly(m: Mount, default: bool = False) -> bool:
    o = m.options
    if o.get("ro", o.get("readonly", "")).lower() in ("true", "1"):
        return True
    if o.get("rw", o.get("readwrite", "")).lower() in ("true", "1"):
        return False
    return default


def bind_checksums(mounts: list[Mount], ctx: MountContext, hashes: HashCache,
                   files: dict[str, str]) -> list[str]:
    """For the RUN cache key: a checksum of what each bind mount shows, by COPY's rules
    (content, type, link target, permissions; never mtimes)."""
    sums = []
    for m in mounts:
        if m.type == "bind":
            src = _bind_root(m, ctx)
            real = _bind_source(m, src)
            sums.append(checksum_tree(src.root, [real], src.ignore, (), hashes, files=files))
    return sums


def _bind(m: Mount, ctx: MountContext, copy: Path, target: str) -> Bind:
    """The host side of a bind mount: the source itself, read-only, when it is all there
    is to see; else a private copy of what is (the context less its ignored files, as
    BuildKit transfers it), which also keeps an rw mount's writes out of the source."""
    src = _bind_root(m, ctx)
    real = _bind_source(m, src)
    source = src.root / real
    readonly = _readonly(m, default=True)
    filtered = src.ignore is not None and bool(src.ignore.patterns) and source.is_dir()
    if readonly and not filtered:
        return Bind(source, target, True)
    copy.mkdir()
    copy_sources(src.root, [real], copy, "/", "/", CopyOptions(ignore=src.ignore))
    return Bind(copy if source.is_dir() else copy / source.name, target, readonly)


def _bind_source(m: Mount, src: MountSource) -> str:
    """The real path (under ``src.root``) of the mount's source, which must be there."""
    name = m.options.get("source") or m.options.get("src") or "/"
    real = filtered_path(src.root, name, src.ignore)
    if real is None:
        raise MountError(f"--mount type=bind: source {name!r} not found"
                         + (" (not in the build context, or excluded by .dockerignore)"
                            if src.ignore is not None else ""))
    return real


def _bind_root(m: Mount, ctx: MountContext) -> MountSource:
    src = m.options.get("from")
    if src:
        if src not in ctx.stage_dirs:
            raise MountError(f"--mount from={src}: no such stage or image")
        return ctx.stage_dirs[src]
    if ctx.context is None:
        raise MountError("--mount type=bind needs a build context")
    return ctx.context


def _cache_dir(m: Mount, ctx: MountContext, stack: contextlib.ExitStack) -> Path:
    """The cache's host directory. BuildKit keys a cache by its id and, when any is given,
    by the uid, gid and mode it is made with: each set of those is a cache of its own."""
    cid = m.options.get("id") or os.path.normpath(m.target or "") or "default"
    if any(k in m.options for k in ("uid", "gid", "mode")):
        cid += "-{}-{}-{}".format(m.options.get("uid", "0"), m.options.get("gid", "0"),
                                  m.options.get("mode", "0755"))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cid)
    d = ctx.cache_root / safe
    fresh = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    if fresh:
        os.chmod(d, int(m.options.get("mode", "0755"), 8))
        os.chown(d, int(m.options.get("uid", "0")), int(m.options.get("gid", "0")))
    sharing = m.options.get("sharing", "shared")
    if sharing == "locked":
        lock = stack.enter_context(open(ctx.cache_root / f".{safe}.lock", "a+b"))  # noqa: SIM115
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    elif sharing == "private":
        lock = stack.enter_context(open(ctx.cache_root / f".{safe}.lock", "a+b"))  # noqa: SIM115
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            private = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=ctx.scratch)))
            return private
    return d
