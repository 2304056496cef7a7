"""One executor per instruction kind, found through ``EXECUTORS`` (BuildKit's
dockerfile2llb dispatch, as a table).

An executor takes the job, the stage being built, the instruction, the build args in
scope and the stage's label. To add an instruction: write its executor in a module here
and add its type to the table.
"""

from __future__ import annotations

from collections.abc import Callable

from wharfie.builder.request import BuildError, StageState
from wharfie.builder.steps import copy, metadata, run, workdir
from wharfie.builder.steps.base import Job
from wharfie.dockerfile import instructions as ins

Executor = Callable[[Job, StageState, ins.Instruction, dict[str, str], str], None]

EXECUTORS: dict[type[ins.Instruction], Executor] = {
    **{kind: metadata.apply for kind in metadata.KINDS},
    ins.Arg: metadata.arg,
    ins.Workdir: workdir.workdir,
    ins.Run: run.run,
    ins.Copy: copy.copy,
    ins.Add: copy.copy,
}


def execute(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None],
            label: str) -> None:
    """Give ``i`` to its executor."""
    executor = EXECUTORS.get(type(i))
    if executor is None:
        raise BuildError(f"line {i.line}: {i.name} is not supported by wharfie build")
    executor(job, st, i, args, label)
