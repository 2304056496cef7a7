"""WORKDIR: the config's working directory, made in the filesystem if missing."""

from __future__ import annotations

from pathlib import Path

from wharfie.builder.filecopy import make_dirs
from wharfie.builder.request import StageState
from wharfie.builder.steps.base import Job
from wharfie.dockerfile import instructions as ins
from wharfie.runtime import resolve_user


def workdir(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None],
            label: str) -> None:
    """Set the directory; make it (owned by USER) as a layer unless it is ``/``."""
    assert isinstance(i, ins.Workdir)
    wd = st.image.set_workdir(i.path)
    if wd == "/":
        st.image.history(f"WORKDIR {wd}", layer=False)
        return

    def mkdir(rootfs: Path, step_no: int) -> None:
        owner = None
        if st.image.user:
            u = resolve_user(rootfs, st.image.user)
            owner = (u.uid, u.gid)
        make_dirs(rootfs, wd, owner)

    job.layer_step(st, "workdir", {"path": wd, "user": st.image.user}, f"WORKDIR {wd}",
                   f"[{label}] WORKDIR {wd}", mkdir, buildkit_suffix=False)
