"""Instructions that only edit the image config (ENV, LABEL, CMD...), and ARG."""

from __future__ import annotations

from wharfie.builder.request import StageState
from wharfie.builder.steps.base import Job
from wharfie.dockerfile import instructions as ins

# What StageImage.apply handles
KINDS = (ins.Env, ins.Label, ins.Expose, ins.Volume, ins.User, ins.Stopsignal, ins.Shell,
         ins.Maintainer, ins.Cmd, ins.Entrypoint, ins.Healthcheck, ins.Onbuild)


def apply(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None],
          label: str) -> None:
    """A config-only instruction: no layer, no cache key of its own."""
    st.image.apply(i)


def arg(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None],
        label: str) -> None:
    """ARG: a history entry as written (defaults expanded), not the values given with
    --build-arg: those show in the ``|N K=V`` of each RUN, as BuildKit writes it."""
    assert isinstance(i, ins.Arg)
    st.image.add_arg_history(list(i.args))
