"""Fixtures for the registry server: real server processes, stopped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from regtest import Http, free_port, wait_for_port


@dataclass
class Server:
    url: str
    port: int
    data: Path
    proc: subprocess.Popen

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def _launcher(tmp_path_factory, procs: list[subprocess.Popen]):
    def start(*args: str, data: Path | None = None, env: dict | None = None,
              scheme: str = "http") -> Server:
        data = data or tmp_path_factory.mktemp("registry-data")
        port = free_port()
        log = tmp_path_factory.mktemp("registry-log") / "stderr"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wharfie", "--root", str(data.parent / "root"),
                 "registry", "serve", "--addr", f"127.0.0.1:{port}", "--data", str(data),
                 *args], env={**os.environ, **(env or {})}, stderr=err)
        procs.append(proc)
        try:
            wait_for_port(port)
        except TimeoutError:
            proc.kill()
            raise AssertionError(log.read_text()) from None
        return Server(f"{scheme}://127.0.0.1:{port}", port, data, proc)

    return start


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


@pytest.fixture(scope="session")
def start_shared_registry(tmp_path_factory):
    """Start ``wharfie registry serve`` processes that live until the end of the session
    (for module- and session-scoped fixtures)."""
    procs: list[subprocess.Popen] = []
    yield _launcher(tmp_path_factory, procs)
    _stop(procs)


@pytest.fixture
def start_registry(tmp_path_factory):
    """Start ``wharfie registry serve`` processes for one test; stopped when it ends."""
    procs: list[subprocess.Popen] = []
    yield _launcher(tmp_path_factory, procs)
    _stop(procs)


@pytest.fixture(scope="session")
def open_registry(start_shared_registry) -> Server:
    """One registry without authentication, shared by the protocol tests."""
    return start_shared_registry()


@pytest.fixture
def http(open_registry) -> Http:
    return Http(open_registry.url)
