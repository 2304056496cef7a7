"""RUN: a command in a runc container on the stage's filesystem, with its mounts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wharfie.builder.mounts import MountContext, MountSource, bind_checksums, key_of, prepared
from wharfie.builder.request import BuildError, BuildEvent, StageState
from wharfie.builder.steps.base import Job
from wharfie.dockerfile import instructions as ins
from wharfie.runtime import Bind, ProcessConfig, merge_env
from wharfie.runtime import run as run_process


def run(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None], label: str) -> None:
    """Run the command (or reuse the layer it made before) and commit what it changed."""
    assert isinstance(i, ins.Run)
    req = job.req
    img = st.image
    argv, files = _run_argv(i, img.shell)
    env_list = img.env
    env_keys = {e.partition("=")[0] for e in env_list}
    in_scope = {**st.inherited_args, **{k: v for k, v in args.items() if v is not None}}
    arg_env = [f"{k}={v}" for k, v in in_scope.items() if k not in env_keys]
    proxy = [f"{k}={v}" for k, v in job.proxy_env.items()]
    env = merge_env(merge_env(env_list, arg_env), proxy)
    network = i.network or req.network
    network = "host" if network in ("default", "host") else network
    shown = img.env_dict()  # an ENV of the same name wins in the |N K=V prefix too
    created_by = "RUN " + _run_command_string(argv, {k: shown.get(k, v or "")
                                                     for k, v in args.items()})
    inputs = {"argv": argv, "env": env, "user": img.user, "workdir": img.workdir,
              "network": network, "mounts": [key_of(m) for m in i.mounts],
              "heredocs": files}
    if req.extra_hosts:  # part of the key, as in BuildKit; absent: keys as before
        inputs["hosts"] = req.extra_hosts
    if req.shm_size:
        inputs["shm"] = req.shm_size
    stage_dirs = {}
    for m in i.mounts:
        src = m.source_stage
        if src and m.type in ("bind", "cache"):
            stage_dirs[src] = job.mount_source(src)
    ctx = req.context
    mctx = MountContext(job.root / "build" / "cache-mounts",
                        MountSource(ctx.root, ctx.ignore) if ctx and ctx.root else None,
                        stage_dirs, job.secrets, job.root / "build" / "tmp",
                        ssh=req.ssh)
    mounted: dict[str, str] = {}  # per file, to explain a cache miss
    if any(m.type == "bind" for m in i.mounts):  # absent: keys as before
        inputs["sources"] = bind_checksums(i.mounts, mctx, job.hashes, mounted)

    def execute(rootfs: Path, step_no: int) -> None:
        mctx.cache_root.mkdir(parents=True, exist_ok=True)
        mctx.scratch.mkdir(parents=True, exist_ok=True)
        with prepared(i.mounts, mctx, img.workdir, env) as (binds, secret_env), \
                _heredoc_files(files, mctx.scratch) as file_binds:
            buf = bytearray()

            def out(data: bytes) -> None:
                buf.extend(data)
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    text = line.decode(errors="replace")
                    job.emit(BuildEvent("output", step_no, text))

            cfg = ProcessConfig(args=argv, env=merge_env(env, secret_env), cwd=img.workdir,
                                user=img.user, network=network,
                                binds=binds + file_binds,
                                extra_hosts=list(req.extra_hosts),
                                shm_size=req.shm_size or 64 << 20, keep_mount_dirs=True,
                                primary_in_groups=False)
            code = run_process(job.root, rootfs, cfg, stdout=out, stderr=out,
                               cancel=job.cancelled)
            if buf:
                out(b"\n")
            if job.cancelled.is_set():
                raise BuildError(f"[{st.label}] cancelled: another stage failed")
            if code != 0:  # its output went out as it came: the renderer frames the tail
                shown = " ".join(argv)
                raise BuildError(
                    f'process "{shown}" did not complete successfully: exit code: {code}',
                    exit_code=1)

    title = f"[{label}] RUN {' '.join(i.command)}"
    job.layer_step(st, "run", inputs, created_by, title, execute, mounted)


def _run_command_string(argv: list[str], args: dict[str, str]) -> str:
    """BuildKit's history text for RUN: ``|N K=V ... argv`` when build ARGs are in scope."""
    prefix = [f"|{len(args)}"] + [f"{k}={v}" for k, v in args.items()] if args else []
    return " ".join(prefix + argv)


def _run_argv(i: ins.Run, shell: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The argv of a RUN, and heredoc files to mount as executables (BuildKit's rules)."""
    if not i.heredocs:
        return (shell + [" ".join(i.command)] if i.shell_form else list(i.command)), []
    cmd = " ".join(i.command).strip()
    first = i.heredocs[0]
    if len(i.heredocs) == 1 and cmd in (f"<<{first.name}", f"<<-{first.name}",
                                        f"<<'{first.name}'", f'<<"{first.name}"',
                                        f"<<-'{first.name}'", f'<<-"{first.name}"'):
        data = first.body()
        if data.startswith("#!"):
            name = f"/dev/pipes/{first.name}"
            return [name], [(name, data)]
        return shell + [data], []
    script = cmd
    for h in i.heredocs:
        script += "\n" + h.content + h.name
    return shell + [script], []


@contextlib.contextmanager
def _heredoc_files(files: list[tuple[str, str]], scratch: Path) -> Iterator[list]:
    """Executable heredocs (``RUN <<EOF`` with a shebang) as read-only files bound in."""
    if not files:
        yield []
        return
    with tempfile.TemporaryDirectory(dir=scratch, prefix="heredoc-") as tmp:
        binds = []
        for n, (target, data) in enumerate(files):
            path = Path(tmp) / f"doc-{n}"
            path.write_text(data)
            os.chmod(path, 0o755)
            binds.append(Bind(path, target, True))
        yield binds
