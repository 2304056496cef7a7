"""Access control: htpasswd users, the token service, robots, policy denials, audit, TLS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import jwt
import pytest
from regtest import Http, errors_of, free_port, make_layout, sha, skopeo
from tests.conftest import make_tls_cert

POLICY = """
groups:
  devs: [alice]
access:
  - {repos: ["team/*"], groups: [devs], actions: [pull, push, delete]}
  - {repos: ["team/*"], users: [reader], actions: [pull]}
  - {repos: ["public/*"], users: [anonymous, "*"], actions: [pull]}
  - {repos: ["public/*", "quota/*", "ci/*"], users: [alice], actions: [pull, push]}
  - {repos: ["ci/*"], users: ["*"], actions: [pull, push]}
immutable_tags:
  - {repos: ["*"], tags: ["v*"]}
quotas:
  quota: 60KiB
"""


def wharfie(*args: str, input: str | None = None, root=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wharfie", "--root", str(root), *args],
                          input=input, capture_output=True, text=True)


@pytest.fixture(scope="module")
def secured(start_shared_registry, tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    htpasswd = d / "htpasswd"
    for user, pw in (("alice", "alice-pw"), ("reader", "reader-pw")):
        res = wharfie("registry", "user", "add", str(htpasswd), user, "--password-stdin",
                      input=pw + "\n", root=d)
        assert res.returncode == 0, res.stderr
    assert htpasswd.read_text().count("$2y$") == 2
    policy = d / "policy.yaml"
    policy.write_text(POLICY)
    data = d / "data"
    res = wharfie("registry", "robot", "create", "builder", "--repo", "ci/*", "--action", "pull",
                  "--data", str(data), root=d)
    assert res.returncode == 0, res.stderr
    server = start_shared_registry("--htpasswd", str(htpasswd), "--policy", str(policy),
                                   data=data)
    server.robot_token = res.stdout.strip()
    server.root = d
    return server


def test_no_credentials_gets_a_bearer_challenge(secured):
    anon = Http(secured.url)
    r = anon("GET", "/v2/")
    assert r.status == 401 and errors_of(r) == ["UNAUTHORIZED"]
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{secured.url}/token"')
    r = anon("POST", "/v2/team/app/blobs/uploads/")
    assert r.status == 401 and errors_of(r) == ["UNAUTHORIZED"]
    assert 'scope="repository:team/app:pull,push"' in r.headers["WWW-Authenticate"]


def test_wrong_password(secured):
    r = Http(secured.url, ("alice", "nope"))("GET", "/v2/")
    assert r.status == 401 and errors_of(r) == ["UNAUTHORIZED"]
    r = Http(secured.url, ("mallory", "x"))("GET", "/v2/team/app/tags/list")
    assert r.status == 401


def test_pull_only_user_cannot_push(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    alice.push_image("team/app", "latest")
    reader = Http(secured.url, ("reader", "reader-pw"))
    assert reader("GET", "/v2/team/app/manifests/latest").status == 200
    r = reader("POST", "/v2/team/app/blobs/uploads/")
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    r = reader("DELETE", "/v2/team/app/manifests/latest")
    assert r.status == 403 and errors_of(r) == ["DENIED"]


def test_immutable_tags(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    digest, raw = alice.push_image("team/imm", "v1.0")
    assert alice.push_manifest("team/imm", "v1.0", raw).status == 201  # same content: fine
    _, other = alice.push_image("team/imm", "latest")
    assert alice.push_manifest("team/imm", "latest", raw).status == 201  # mutable tag
    r = alice.push_manifest("team/imm", "v1.0", other)
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert "immutable" in json.loads(r.data)["errors"][0]["message"]
    r = alice("DELETE", "/v2/team/imm/manifests/v1.0")
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert alice("GET", "/v2/team/imm/manifests/v1.0").data == raw


def test_quota_per_namespace(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    alice.push_blob("quota/one", os.urandom(40 * 1024))
    big = os.urandom(30 * 1024)
    r = alice("POST", f"/v2/quota/two/blobs/uploads/?digest={sha(big)}", body=big)
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert json.loads(r.data)["errors"][0]["detail"]["namespace"] == "quota"
    assert alice("HEAD", f"/v2/quota/two/blobs/{sha(big)}").status == 404
    alice.push_blob("quota/two", os.urandom(10 * 1024))  # still under the quota
    alice.push_blob("public/elsewhere", big)  # another namespace has no quota


def test_token_flow_grants_only_allowed_scopes(secured):
    cred = base64.b64encode(b"reader:reader-pw").decode()
    r = Http(secured.url)("GET", "/token?service=wharfie-registry"
                                 "&scope=repository:team/app:pull,push",
                          headers={"Authorization": f"Basic {cred}"})
    assert r.status == 200
    token = json.loads(r.data)["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "reader"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {token}"}
    anon = Http(secured.url)
    assert anon("GET", "/v2/team/app/manifests/latest", headers=bearer).status == 200
    r = anon("POST", "/v2/team/app/blobs/uploads/", headers=bearer)
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    forged = jwt.encode({**claims, "access": [{"type": "repository", "name": "team/app",
                                               "actions": ["push"]}]}, "a-guessed-key-of-32-bytes-length", "HS256")
    r = anon("POST", "/v2/team/app/blobs/uploads/", headers={"Authorization": f"Bearer {forged}"})
    assert r.status == 401
    r = anon("GET", "/token?service=wharfie-registry&scope=repository:team/app:pull",
             headers={"Authorization": "Basic " + base64.b64encode(b"reader:bad").decode()})
    assert r.status == 401


def test_anonymous_pull_of_public_repos(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    alice.push_image("public/base", "latest")
    anon = Http(secured.url)
    assert anon("GET", "/v2/public/base/manifests/latest").status == 200
    assert anon("GET", "/v2/team/app/manifests/latest").status == 401
    r = anon("GET", "/token?scope=repository:public/base:pull,push")
    claims = jwt.decode(json.loads(r.data)["token"], options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["pull"]


def test_robot_tokens(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    alice.push_image("ci/app", "latest")
    robot = Http(secured.url, ("robot$builder", secured.robot_token))
    assert robot("GET", "/v2/ci/app/manifests/latest").status == 200
    r = robot("POST", "/v2/ci/app/blobs/uploads/")  # the policy would allow, its grant does not
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert robot("GET", "/v2/team/app/manifests/latest").status == 403
    assert Http(secured.url, ("robot$builder", "wrt_wrong"))("GET", "/v2/").status == 401
    res = wharfie("registry", "robot", "remove", "builder", "--data", str(secured.data),
                  root=secured.root)
    assert res.returncode == 0, res.stderr
    assert robot("GET", "/v2/ci/app/manifests/latest").status == 401
    res = wharfie("registry", "robot", "remove", "builder", "--data", str(secured.data),
                  root=secured.root)
    assert res.returncode == 1 and res.stderr.startswith("wharfie: error: no robot")


def test_catalog_shows_only_pullable_repositories(secured):
    Http(secured.url, ("alice", "alice-pw")).push_image("ci/listed", "t")
    r = Http(secured.url, ("reader", "reader-pw"))("GET", "/v2/_catalog")
    repos = json.loads(r.data)["repositories"]
    assert "team/app" in repos and "ci/listed" in repos
    assert "quota/two" not in repos


def test_audit_log_records_every_write(secured):
    alice = Http(secured.url, ("alice", "alice-pw"))
    digest, _ = alice.push_image("team/audited", "t1")
    alice("DELETE", "/v2/team/audited/manifests/t1")
    records = [json.loads(x) for x in (secured.data / "audit.log").read_text().splitlines()]
    mine = [r for r in records if r["repository"] == "team/audited"]
    assert [r["action"] for r in mine] == ["blob.push", "blob.push", "manifest.push",
                                           "manifest.delete"]
    assert all(r["who"] == "alice" and r["time"].endswith("Z") for r in mine)
    assert mine[2]["digest"] == digest and mine[2]["tag"] == "t1"
    assert mine[3]["digest"] == digest


@pytest.mark.interop
def test_skopeo_logs_in_through_the_token_service(secured, tmp_path):
    src = tmp_path / "src"
    digest = make_layout(src)
    ref = f"docker://{secured.host}/team/skopeo:latest"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:alice-pw",
           f"oci:{src}:v1", ref)
    out = skopeo("inspect", "--tls-verify=false", "--creds", "reader:reader-pw", ref).stdout
    assert json.loads(out)["Digest"] == digest
    res = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "reader:reader-pw",
                 f"oci:{src}:v1", f"docker://{secured.host}/team/skopeo:denied", check=False)
    assert res.returncode != 0 and "denied" in res.stderr.lower()
    res = skopeo("inspect", "--tls-verify=false", ref, check=False)
    assert res.returncode != 0 and "unauthorized" in res.stderr.lower()


def test_tls_and_plain_http_only_on_loopback(start_registry, tmp_path):
    cert, key = make_tls_cert(tmp_path)
    server = start_registry("--tls-cert", str(cert), "--tls-key", str(key), scheme="https")
    https = Http(server.url, ca_certs=str(cert))
    assert https("GET", "/v2/").status == 200
    https.push_image("tls/app", "t")
    blob = os.urandom(3 << 20)  # sendfile cannot go through TLS: served by read+write
    digest = https.push_blob("tls/app", blob)
    r = https("GET", f"/v2/tls/app/blobs/{digest}")
    assert (r.status, r.data == blob, r.headers["ETag"]) == (200, True, f'"{digest}"')
    r = https("GET", f"/v2/tls/app/blobs/{digest}", headers={"Range": "bytes=1000-"})
    assert (r.status, r.data == blob[1000:]) == (206, True)
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(cert.read_bytes())
    skopeo("inspect", "--cert-dir", str(certs), f"docker://{server.host}/tls/app:t")
    res = wharfie("registry", "serve", "--addr", f"0.0.0.0:{free_port()}", "--data",
                  str(tmp_path / "d"), root=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "wharfie: error: refusing plain HTTP on 0.0.0.0: give --tls-cert/--tls-key, "
        "or --insecure-http to allow it"]


def test_basic_auth_mode_with_users_from_the_policy(start_registry, tmp_path):
    import bcrypt

    hashed = bcrypt.hashpw(b"carol-pw", bcrypt.gensalt(4)).decode()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "users": {"carol": hashed},
        "access": [{"repos": ["c/*"], "users": ["carol"], "actions": ["pull", "push"]}]}))
    server = start_registry("--basic-auth", "--policy", str(policy))
    r = Http(server.url)("POST", "/v2/c/app/blobs/uploads/")
    assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="wharfie-registry"'
    carol = Http(server.url, ("carol", "carol-pw"))
    digest, raw = carol.push_image("c/app", "t")
    assert carol("GET", f"/v2/c/app/manifests/{digest}").data == raw
    assert Http(server.url, ("carol", "wrong"))("GET", "/v2/").status == 401
    assert Http(server.url)("GET", "/token?scope=repository:c/app:pull").status == 404


def test_user_and_robot_listings(secured, start_registry, tmp_path):
    res = wharfie("registry", "user", "list", str(secured.root / "htpasswd"), root=secured.root)
    assert res.stdout.split() == ["alice", "reader"]
    res = wharfie("registry", "robot", "create", "deployer", "--repo", "team/*", "--action",
                  "pull", "--expires", "1h", "--data", str(tmp_path / "d"), root=tmp_path)
    assert res.stdout.startswith("wrt_")
    listed = json.loads(wharfie("registry", "robot", "list", "--data", str(tmp_path / "d"),
                                root=tmp_path).stdout)
    assert listed["deployer"]["repos"] == ["team/*"] and listed["deployer"]["expires"]
    assert "sha256" not in listed["deployer"]
    res = wharfie("registry", "robot", "create", "x", "--repo", "a", "--expires", "soon",
                  "--data", str(tmp_path / "d"), root=tmp_path)
    assert res.returncode == 1 and res.stderr.startswith("wharfie: error: invalid duration")
    small = start_registry("--max-manifest-size", "2KiB")
    r = Http(small.url).push_manifest("size/app", "t", b"{" + b" " * 3000 + b"}")
    assert r.status == 413 and errors_of(r) == ["SIZE_INVALID"]
