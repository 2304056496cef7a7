"""Credentials in Docker's config.json, through docker-credential-* helpers, and auth.json."""

from __future__ import annotations

import base64
import json
import os

import pytest

from wharfie.oci.reference import parse_reference
from wharfie.transports.registry import credentials as c
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.source import open_remote

HELPER = """#!/usr/bin/env python3
# A docker-credential-helpers protocol peer keeping secrets in a JSON file.
import json, os, sys
path = os.environ["TEST_HELPER_DB"]
db = json.load(open(path)) if os.path.exists(path) else {}
action, data = sys.argv[1], sys.stdin.read()
if action == "store":
    d = json.loads(data); db[d["ServerURL"]] = [d["Username"], d["Secret"]]
elif action == "get":
    if data.strip() not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    u, s = db[data.strip()]
    print(json.dumps({"ServerURL": data.strip(), "Username": u, "Secret": s}))
elif action == "erase":
    if db.pop(data.strip(), None) is None:
        print("credentials not found in native keychain"); sys.exit(1)
json.dump(db, open(path, "w"))
"""


@pytest.fixture
def helper(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "docker-credential-wtest"
    exe.write_text(HELPER)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("TEST_HELPER_DB", str(tmp_path / "helper-db.json"))
    return tmp_path / "helper-db.json"


def test_store_in_config_json_docker_format(docker_config):
    c.store("127.0.0.1:5000", c.Credentials("bob", "pw:with:colons"))
    doc = json.loads((docker_config / "config.json").read_text())
    assert doc["auths"]["127.0.0.1:5000"]["auth"] == base64.b64encode(
        b"bob:pw:with:colons").decode()
    assert oct((docker_config / "config.json").stat().st_mode & 0o777) == "0o600"
    assert c.lookup("127.0.0.1:5000") == c.Credentials("bob", "pw:with:colons")
    assert c.erase("127.0.0.1:5000") is True
    assert c.lookup("127.0.0.1:5000") is None
    assert c.erase("127.0.0.1:5000") is False


def test_keys_with_scheme_and_path_match(docker_config):
    (docker_config / "config.json").write_text(json.dumps({"auths": {
        "https://reg.example.test:5000/v2/": {"auth": base64.b64encode(b"u:p").decode()}}}))
    assert c.lookup("reg.example.test:5000") == c.Credentials("u", "p")
    assert c.lookup("reg.example.test") is None


def test_creds_store_helper_roundtrip(docker_config, helper):
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "wtest"}))
    where = c.store("127.0.0.1:5001", c.Credentials("carol", "hunter2"))
    assert where == "docker-credential-wtest"
    assert json.loads(helper.read_text()) == {"127.0.0.1:5001": ["carol", "hunter2"]}
    doc = json.loads((docker_config / "config.json").read_text())
    assert doc["auths"]["127.0.0.1:5001"] == {}  # Docker's marker: no secret in the file
    assert c.lookup("127.0.0.1:5001") == c.Credentials("carol", "hunter2")
    assert c.erase("127.0.0.1:5001")
    assert c.lookup("127.0.0.1:5001") is None


def test_cred_helpers_per_registry_win(docker_config, helper):
    helper.write_text(json.dumps({"127.0.0.1:5002": ["dave", "from-helper"]}))
    (docker_config / "config.json").write_text(json.dumps({
        "credHelpers": {"127.0.0.1:5002": "wtest"},
        "auths": {"127.0.0.1:5002": {"auth": base64.b64encode(b"dave:from-file").decode()}}}))
    assert c.lookup("127.0.0.1:5002") == c.Credentials("dave", "from-helper")


def test_identity_token_from_helper(docker_config, helper):
    helper.write_text(json.dumps({"127.0.0.1:5003": ["<token>", "refresh-me"]}))
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "wtest"}))
    assert c.lookup("127.0.0.1:5003") == c.Credentials(identity_token="refresh-me")


def test_missing_helper_is_a_clear_error(docker_config):
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "absent"}))
    with pytest.raises(c.CredentialsError, match="docker-credential-absent not found"):
        c.lookup("127.0.0.1:5004")


def test_containers_auth_json_read(docker_config, tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    path = tmp_path / "run" / "containers" / "auth.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"auths": {"127.0.0.1:5005": {
        "auth": base64.b64encode(b"erin:podman-pw").decode()}}}))
    assert c.lookup("127.0.0.1:5005") == c.Credentials("erin", "podman-pw")


def test_stored_credentials_used_by_client(basic_registry, small_image, alice, docker_config):
    from wharfie.transports.base import copy_image
    from wharfie.transports.registry.destination import RegistryDestination

    c.store(basic_registry, alice)
    opts = RegistryOptions()
    ref = parse_reference(f"{basic_registry}/creds/app:v1")
    copy_image(small_image, RegistryDestination(opts.registry(basic_registry), ref.path), ref)
    assert open_remote(ref, RegistryOptions()).digest == small_image.digest


def test_config_json_is_private_from_its_creation(docker_config, monkeypatch):
    """``login`` into an existing 0755 ~/.docker: the temp file that becomes config.json is
    0600 from the start, never readable by others before a chmod."""
    docker_config.chmod(0o755)
    modes: list[int] = []
    real_replace = os.replace

    def replace(src, dst, **kw):
        modes.append(os.stat(src).st_mode & 0o777)
        return real_replace(src, dst, **kw)
    monkeypatch.setattr(os, "replace", replace)
    old_umask = os.umask(0o022)
    try:
        c.store("127.0.0.1:5006", c.Credentials("frank", "secret"))
    finally:
        os.umask(old_umask)
    assert modes == [0o600]
    assert (docker_config / "config.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in docker_config.iterdir()] == ["config.json"]
