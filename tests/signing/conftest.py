"""Keys and pushed images for the signing tests."""

from __future__ import annotations

import pytest

from wharfie.api import Client
from wharfie.testing.random import add_image

PASSWORD = {"WHARFIE_PASSWORD": "s3cret"}


@pytest.fixture
def keys(wharfie, tmp_path):
    """A key pair from ``wharfie key generate``: (private, public) paths."""
    prefix = tmp_path / "cosign"
    wharfie("key", "generate", "--output-key-prefix", str(prefix), env=PASSWORD)
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


@pytest.fixture
def other_keys(wharfie, tmp_path):
    prefix = tmp_path / "other"
    wharfie("key", "generate", "--output-key-prefix", str(prefix), env=PASSWORD)
    return tmp_path / "other.key", tmp_path / "other.pub"


def pushed(root, registry: str, name: str, seed: int = 1) -> str:
    """A random image pushed to ``registry/name:1``; returns that reference."""
    ref = f"{registry}/{name}:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=seed, compression="gzip")
        client.push(ref)
    return ref


def error_line(res) -> str:
    return res.stderr.decode().strip().splitlines()[-1]


@pytest.fixture
def serve_registry(tmp_path):
    """``serve_registry(policy)``: a ``wharfie registry serve`` on loopback with the policy
    file ``policy`` (its relative key paths from its directory); returns its host:port."""
    import os
    import subprocess
    import sys

    from tests.conftest import free_port, wait_for_port

    procs: list[subprocess.Popen] = []

    def start(policy) -> str:
        port = free_port()
        data = tmp_path / f"registry-{port}"
        log = tmp_path / f"registry-{port}.log"
        with open(log, "wb") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "wharfie", "--root", str(tmp_path / f"root-{port}"),
                 "registry", "serve", "--addr", f"127.0.0.1:{port}", "--data", str(data),
                 "--policy", str(policy)], env=dict(os.environ), stderr=err))
        try:
            wait_for_port(port)
        except TimeoutError:
            raise AssertionError(log.read_text()) from None
        return f"127.0.0.1:{port}"

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)
