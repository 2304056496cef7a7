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


@pytest.fixture(scope="session")
def start_registry(tmp_path_factory):
    """Start ``wharfie registry serve`` processes; all are stopped at the end of the session."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, data: Path | None = None, env: dict | None = None,
              scheme: str = "http") -> Server:
        data = data or tmp_path_factory.mktemp("registry-data")
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "wharfie", "--root", str(data.parent / "root"), "registry",
             "serve", "--addr", f"127.0.0.1:{port}", "--data", str(data), *args],
            env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
        procs.append(proc)
        try:
            wait_for_port(port)
        except TimeoutError:
            proc.kill()
            raise AssertionError(proc.communicate()[1].decode()) from None
        return Server(f"{scheme}://127.0.0.1:{port}", port, data, proc)

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="session")
def open_registry(start_registry) -> Server:
    """One registry without authentication, shared by the protocol tests."""
    return start_registry()


@pytest.fixture
def http(open_registry) -> Http:
    return Http(open_registry.url)
