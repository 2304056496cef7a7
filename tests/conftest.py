"""Fixtures shared by every test package: real tools, real servers, cached base images.

Expensive fixtures are cached in /var/cache/wharfie-tests, keyed by their inputs, so that
later runs on the same machine reuse them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
CACHE = Path(os.environ.get("WHARFIE_TEST_CACHE", "/var/cache/wharfie-tests"))


def cached(name: str, key_parts: list[bytes | str], make) -> Path:
    """A file under CACHE named by ``name`` and a hash of its inputs; ``make(path)`` builds it."""
    h = hashlib.sha256()
    for part in key_parts:
        h.update(part.encode() if isinstance(part, str) else part)
    path = CACHE / f"{name}-{h.hexdigest()[:16]}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        make(tmp)
        os.replace(tmp, path)
    return path


@pytest.fixture(scope="session")
def busybox_rootfs_tar() -> Path:
    """A root filesystem tarball of Debian's static busybox with its applets linked."""
    script = REPO / "scripts" / "make-busybox-rootfs.sh"
    key = [Path("/bin/busybox").read_bytes(), script.read_bytes()]
    return cached("busybox-rootfs.tar", key,
                  lambda p: subprocess.run([str(script), str(p)], check=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory) -> str:
    """Debian's docker-registry (distribution 2.8) on loopback; yields ``127.0.0.1:PORT``."""
    exe = shutil.which("docker-registry")
    assert exe, "docker-registry is not installed (scripts/install-system-deps.sh)"
    d = tmp_path_factory.mktemp("registry")
    port = free_port()
    cfg = d / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {d / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def root(tmp_path) -> Path:
    """A fresh wharfie root for one test."""
    return tmp_path / "wharfie-root"


@pytest.fixture
def wharfie(root):
    """Run the real CLI in a subprocess: ``wharfie("images", "-q")`` -> CompletedProcess."""

    def run(*args: str, input: bytes | None = None, check: bool = True, env=None):
        full_env = {**os.environ, "WHARFIE_ROOT": str(root), **(env or {})}
        res = subprocess.run([sys.executable, "-m", "wharfie", *args], input=input,
                             capture_output=True, env=full_env)
        if check and res.returncode != 0:
            raise AssertionError(
                f"wharfie {' '.join(args)} exited {res.returncode}:\n"
                f"{res.stderr.decode(errors='replace')}")
        return res

    return run
