"""wharfie key/sign/verify against Debian's docker-registry on loopback, through the CLI."""

from __future__ import annotations

import json

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


def test_sign_then_verify_shows_digest_and_annotations(wharfie, root, keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/app")
    signed = wharfie("sign", "--key", str(keys[0]), "--annotation", "team=blue", ref,
                     env=PASSWORD).stdout.decode()
    res = wharfie("verify", "--key", str(keys[1]), "--format", "json", ref)
    verdict = json.loads(res.stdout)
    assert verdict["digest"] in signed
    assert verdict["identity"] == f"{docker_registry}/sig/app"
    assert verdict["annotations"] == {"team": "blue"}
    tags = Client(root).tags(f"{docker_registry}/sig/app")
    assert f"sha256-{verdict['digest'].split(':')[1]}.sig" in tags


def test_verify_unsigned_image_fails_with_missing(wharfie, root, keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/unsigned")
    res = wharfie("verify", "--key", str(keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "no signature found" in error_line(res)


def test_verify_with_another_key_fails(wharfie, root, keys, other_keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/otherkey")
    wharfie("sign", "--key", str(other_keys[0]), ref, env=PASSWORD)
    res = wharfie("verify", "--key", str(keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "none made by the key" in error_line(res)
