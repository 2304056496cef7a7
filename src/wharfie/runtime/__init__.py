"""Run a process in a root filesystem: an OCI runtime spec driven through runc.

    from wharfie.runtime import ProcessConfig, Bind, run
    code = run(wharfie_root, rootfs, ProcessConfig(args=["sh", "-c", "make"], env=[...],
               cwd="/src", user="app", network="host"), stdout=cb, stderr=cb)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import BinaryIO

from wharfie.runtime.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerError,
    RuntimeUnavailable,
)
from wharfie.runtime.runc import Runtime, Sink, find_runtime
from wharfie.runtime.spec import Bind, ProcessConfig, Tmpfs, merge_env
from wharfie.runtime.user import ExecUser, resolve_user

__all__ = [
    "Bind", "CommandNotExecutable", "CommandNotFound", "ContainerError", "ExecUser",
    "ProcessConfig", "Runtime", "RuntimeUnavailable", "find_runtime", "merge_env",
    "Tmpfs", "resolve_user", "run", "state_dir",
]


def state_dir(root: Path) -> Path:
    """Where containers' runtime state and bundles live under a wharfie root."""
    return Path(root) / "runtime"


def run(root: Path, rootfs: Path, cfg: ProcessConfig, *, stdin: BinaryIO | int | None = None,
        stdout: Sink = None, stderr: Sink = None, cancel: threading.Event | None = None) -> int:
    """Run one process in ``rootfs`` with the detected runtime; its exit status."""
    return find_runtime(state_dir(root)).run(rootfs, cfg, stdin=stdin, stdout=stdout,
                                             stderr=stderr, cancel=cancel)
