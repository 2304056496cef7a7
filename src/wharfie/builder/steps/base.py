"""What an executor may use of the job running it (``job.Job`` provides it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from wharfie.builder.context import BuildContext, HashCache
from wharfie.builder.mounts import MountSource, Secret
from wharfie.builder.request import BuildEvent, BuildRequest, StageState
from wharfie.layers.writer import Planned


class Job(Protocol):
    """One build, as its steps see it."""

    root: Path
    req: BuildRequest
    hashes: HashCache
    emit: Callable[[BuildEvent], None]
    secrets: dict[str, Secret]
    proxy_env: dict[str, str]
    named_dirs: dict[str, BuildContext]

    @property
    def cancelled(self) -> threading.Event: ...

    def mount_source(self, name: str) -> MountSource: ...

    def source_root(self, name: str) -> Path: ...

    def layer_step(self, st: StageState, kind: str, inputs: dict, created_by: str, title: str,
                   action: Callable[[Path, int], None], files: dict | None = None, *,
                   buildkit_suffix: bool = True,
                   plan: Callable[[Path | None], list[Planned] | None] | None = None
                   ) -> int: ...
