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
        add_image(client.store, ref, seed=seed)
        client.push(ref)
    return ref


def error_line(res) -> str:
    return res.stderr.decode().strip().splitlines()[-1]
