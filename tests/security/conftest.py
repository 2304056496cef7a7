"""Images the security tests scan: a real Debian bookworm minbase with apt and Python
packages (made by mmdebstrap from the host's apt sources, cached by its arguments), and
busybox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bench.benchlib import cached

# python3-pip brings python3, setuptools and wheel: dpkg packages whose dist-info and
# egg-info directories Python catalogers read; python3-yaml adds a compiled extension.
DEBIAN_PY_ARGS = ["--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                  "--include=python3-pip,python3-yaml", "bookworm"]


@pytest.fixture(scope="session")
def debian_py_rootfs_tar() -> Path:
    """Debian bookworm minbase plus python3-pip and python3-yaml (~150 MB, made once per
    machine from the host's apt sources)."""
    return cached("debian-py-rootfs.tar", ["mmdebstrap", *DEBIAN_PY_ARGS],
                  lambda p: subprocess.run(["mmdebstrap", *DEBIAN_PY_ARGS, str(p)],
                                           check=True))
