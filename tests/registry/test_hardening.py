"""Issue 12, the server side: revoked credentials, GC while serving, races between worker
processes, quotas, foreign URLs, upload limits and malformed manifests."""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time

import pytest
from regtest import Http, errors_of

POLICY = """
access:
  - {repos: ["*"], users: ["*"], actions: [pull, push, delete]}
immutable_tags:
  - {repos: ["*"], tags: ["v*"]}
quotas:
  quota: 1MiB
"""


def wharfie(*args: str, input: str | None = None, root=None) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", str(root), *args],
                         input=input, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secured(start_registry, tmp_path):
    """A token-auth server with users alice and bob, whose files the test may change."""
    htpasswd = tmp_path / "htpasswd"
    for user in ("alice", "bob"):
        wharfie("registry", "user", "add", str(htpasswd), user, "--password-stdin",
                input=f"{user}-pw\n", root=tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    server = start_registry("--htpasswd", str(htpasswd), "--policy", str(policy),
                            "--workers", "2", data=tmp_path / "data")
    server.root, server.htpasswd = tmp_path, htpasswd
    return server


def token(server, headers: dict, scope: str = "repository:team/app:pull,push") -> str:
    r = Http(server.url)("GET", f"/token?service=wharfie-registry&scope={scope}",
                         headers=headers)
    assert r.status == 200, r.data
    return json.loads(r.data)["token"]


def robot(server, name: str, *extra: str) -> str:
    return wharfie("registry", "robot", "create", name, "--repo", "team/*", "--action", "pull",
                   "--action", "push", "--data", str(server.data), *extra,
                   root=server.root).stdout.strip()


# ---- H2: tokens come from primary credentials, and die with their account ----


def test_token_endpoint_refuses_a_token_as_credential(secured):
    jwt = token(secured, basic("alice", "alice-pw"))
    r = Http(secured.url)("GET", "/token?service=wharfie-registry"
                                 "&scope=repository:team/app:pull", headers=bearer(jwt))
    assert r.status == 401 and errors_of(r) == ["UNAUTHORIZED"]


def test_removed_user_loses_access_at_once(secured):
    jwt = token(secured, basic("bob", "bob-pw"))
    anon = Http(secured.url)
    assert anon("GET", "/v2/team/app/tags/list", headers=bearer(jwt)).status in (200, 404)
    wharfie("registry", "user", "remove", str(secured.htpasswd), "bob", root=secured.root)
    for _ in range(4):  # both workers
        r = anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer(jwt))
        assert r.status == 401 and errors_of(r) == ["UNAUTHORIZED"]
    r = anon("GET", "/token?scope=repository:team/app:pull", headers=basic("bob", "bob-pw"))
    assert r.status == 401


def test_removed_or_expired_robot_loses_access_at_once(secured):
    secret = robot(secured, "gone")
    jwt = token(secured, basic("robot$gone", secret))
    anon = Http(secured.url)
    assert anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer(jwt)).status == 202
    wharfie("registry", "robot", "remove", "gone", "--data", str(secured.data),
            root=secured.root)
    for _ in range(4):
        assert anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer(jwt)).status == 401

    secret = robot(secured, "brief", "--expires", "2s")
    jwt = token(secured, basic("robot$brief", secret))
    assert anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer(jwt)).status == 202
    time.sleep(2.5)
    for _ in range(4):
        assert anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer(jwt)).status == 401
    r = anon("GET", "/token?scope=repository:team/app:pull", headers=bearer(jwt))
    assert r.status == 401


def test_rekeyed_robot_old_tokens_refused(secured):
    jwt = token(secured, basic("robot$ci", robot(secured, "ci")))
    time.sleep(1.1)
    robot(secured, "ci")  # re-keyed: the old secret and what it bought are void
    assert Http(secured.url)("GET", "/v2/team/app/tags/list",
                             headers=bearer(jwt)).status == 401


def test_unknown_user_costs_one_bcrypt(secured):
    anon = Http(secured.url)

    def seconds(user: str) -> float:
        t = time.perf_counter()
        assert anon("GET", "/v2/", headers=basic(user, "wrong")).status == 401
        return time.perf_counter() - t

    wrong = statistics.median(seconds("alice") for _ in range(7))
    unknown = statistics.median(seconds("nobody") for _ in range(7))
    assert unknown > wrong / 2, (unknown, wrong)


def test_token_realm_ignores_the_host_header(secured):
    r = Http(secured.url)("GET", "/v2/", headers={"Host": "evil.example"})
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{secured.url}/token"')
