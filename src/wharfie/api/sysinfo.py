"""What ``wharfie version``, ``wharfie info`` and ``wharfie search`` report: docker's
``version`` Client section, its ``info`` fields, and a registry's catalog as search results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from wharfie import __version__

# Docker Engine API level whose commands wharfie mirrors, and the distribution spec it speaks.
API_VERSION = "1.41 (OCI distribution v1.1)"


def _git_commit() -> str:
    """The checkout's short commit when wharfie runs from one; "" otherwise."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def go_arch() -> str:
    """The machine as Go (and docker's OS/Arch) names it."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def version_info() -> dict[str, Any]:
    """docker version's ``Client`` fields; Python in place of Go, no daemon (no Server)."""
    return {"Client": {"Platform": {"Name": "wharfie"}, "Version": __version__,
                       "ApiVersion": API_VERSION, "PythonVersion": platform.python_version(),
                       "GitCommit": _git_commit(), "BuildTime": "",
                       "Os": sys.platform.rstrip("0123456789") or sys.platform,
                       "Arch": go_arch()}}


def storage_driver(root: Path) -> str:
    """The snapshotter this root uses (overlay or copy), without probing a mount."""
    chosen = os.environ.get("WHARFIE_SNAPSHOTTER")
    if chosen:
        return chosen
    try:
        return (root / "snapshots" / "driver").read_text().strip()
    except FileNotFoundError:
        return "overlay or copy (probed at the first build or run)"


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return platform.system()


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def system_info(root: Path, *, images: int, statuses: list[str], mirrors: list[str],
                insecure: list[str]) -> dict[str, Any]:
    """docker info's fields (its key names) for a wharfie root; ``statuses`` are the
    containers' states."""
    running = statuses.count("running")
    paused = statuses.count("paused")
    return {"Containers": len(statuses), "ContainersRunning": running,
            "ContainersPaused": paused, "ContainersStopped": len(statuses) - running - paused,
            "Images": images, "Driver": storage_driver(root), "DockerRootDir": str(root),
            "KernelVersion": platform.release(), "OperatingSystem": _os_release(),
            "OSType": platform.system().lower(), "Architecture": platform.machine(),
            "NCPU": os.cpu_count() or 0, "MemTotal": _mem_total(),
            "Name": platform.node(), "ServerVersion": __version__,
            "RegistryConfig": {"Mirrors": mirrors, "InsecureRegistries": insecure}}
