"""docker (Debian's dockerd, started here) and podman log in, push and pull through wharfie's
registry server, with its token service and a policy, unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import urllib3
from tests.conftest import dockerd_daemon, free_port, wait_for_port

pytestmark = pytest.mark.interop
DOCKER = "/usr/bin/docker"
POLICY = """
access:
  - {repos: ["team/*"], users: [alice], actions: [pull, push, delete]}
  - {repos: ["team/*"], users: [reader], actions: [pull]}
"""


def run(*args: str, env: dict | None = None, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(args, capture_output=True, text=True, env=env, input=input,
                         timeout=300)
    if check:
        assert res.returncode == 0, f"{' '.join(args)} exited {res.returncode}:\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """wharfie's registry with htpasswd users, token auth and a policy; yields HOST:PORT."""
    d = tmp_path_factory.mktemp("wharfie-registry")
    htpasswd = d / "htpasswd"
    for user in ("alice", "reader"):
        run(sys.executable, "-m", "wharfie", "registry", "user", "add", str(htpasswd), user,
            "--password-stdin", input=f"{user}-pw\n")
    (d / "policy.yaml").write_text(POLICY)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wharfie", "--root", str(d / "root"), "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--data", str(d / "data"), "--htpasswd",
         str(htpasswd), "--policy", str(d / "policy.yaml")], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def manifest_digest(host: str, repo: str, tag: str) -> str:
    http = urllib3.PoolManager()
    r = http.request("HEAD", f"http://{host}/v2/{repo}/manifests/{tag}",
                     headers=urllib3.make_headers(basic_auth="alice:alice-pw"))
    assert r.status == 200
    return r.headers["Docker-Content-Digest"]


@pytest.fixture(scope="module")
def dockerd():
    """A private dockerd for this module's tests (tests.conftest.dockerd_daemon)."""
    with dockerd_daemon() as env:
        yield env


def test_docker_login_push_pull(server, dockerd, busybox_rootfs_tar):
    env = dockerd
    ref = f"{server}/team/docker:v1"
    run(DOCKER, "import", str(busybox_rootfs_tar), ref, env=env)
    denied = run(DOCKER, "push", ref, env=env, check=False)
    assert denied.returncode != 0
    bad = run(DOCKER, "login", server, "-u", "alice", "--password-stdin", input="wrong\n",
              env=env, check=False)
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower()
    ok = run(DOCKER, "login", server, "-u", "alice", "--password-stdin", input="alice-pw\n",
             env=env)
    assert "Login Succeeded" in ok.stdout
    pushed = run(DOCKER, "push", ref, env=env).stdout
    digest = manifest_digest(server, "team/docker", "v1")
    assert f"v1: digest: {digest}" in pushed
    run(DOCKER, "rmi", ref, env=env)
    pulled = run(DOCKER, "pull", ref, env=env).stdout
    assert f"Digest: {digest}" in pulled
    run(DOCKER, "login", server, "-u", "reader", "--password-stdin", input="reader-pw\n",
        env=env)
    run(DOCKER, "tag", ref, f"{server}/team/docker:by-reader", env=env)
    refused = run(DOCKER, "push", f"{server}/team/docker:by-reader", env=env, check=False)
    assert refused.returncode != 0 and "denied" in (refused.stderr + refused.stdout).lower()


def test_podman_login_push_pull(server, busybox_rootfs_tar, tmp_path):
    exe = shutil.which("podman")
    assert exe, "podman is not installed (scripts/install-system-deps.sh)"
    store = Path(tempfile.mkdtemp(prefix="wharfie-pm-", dir="/tmp"))
    base = [exe, "--root", str(store / "root"), "--runroot", str(store / "run"),
            "--storage-driver", "vfs"]
    auth = ["--authfile", str(tmp_path / "auth.json")]
    ref = f"{server}/team/podman:v1"
    try:
        run(*base, "import", str(busybox_rootfs_tar), ref)
        bad = run(*base, "login", *auth, "--tls-verify=false", "-u", "alice",
                  "--password-stdin", server, input="wrong\n", check=False)
        assert bad.returncode != 0
        run(*base, "login", *auth, "--tls-verify=false", "-u", "alice", "--password-stdin",
            server, input="alice-pw\n")
        run(*base, "push", *auth, "--tls-verify=false", ref)
        digest = manifest_digest(server, "team/podman", "v1")
        run(*base, "rmi", ref)
        run(*base, "pull", *auth, "--tls-verify=false", ref)
        images = json.loads(run(*base, "images", "--format", "json").stdout)
        assert any(digest in (img.get("Digest"), *img.get("RepoDigests", [""]))
                   or any(digest in d for d in img.get("RepoDigests") or [])
                   for img in images), images
    finally:
        run(*base, "system", "reset", "--force", check=False)
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            if line.split()[1].startswith(str(store)):
                subprocess.run(["umount", "-l", line.split()[1]], capture_output=True)
        shutil.rmtree(store, ignore_errors=True)
