"""wharfie's own registry client (push, pull, copy, login) against wharfie's server."""

from __future__ import annotations

import json

from regtest import Http, sha

POLICY = """
access:
  - {repos: ["team/*"], users: [alice], actions: [pull, push, delete]}
  - {repos: ["team/*"], users: [reader], actions: [pull]}
"""


def lines(res) -> list[str]:
    return res.stdout.decode().splitlines()


def test_push_pull_copy_with_wharfie(wharfie, open_registry, busybox_rootfs_tar, tmp_path):
    host = open_registry.host
    ref = f"{host}/wc/busybox:v1"
    wharfie("import", str(busybox_rootfs_tar), ref, "--change", 'CMD ["sh"]')
    pushed = lines(wharfie("push", ref))
    assert pushed[1].endswith(": Pushed")
    digest = pushed[-1].split()[2]
    assert lines(wharfie("push", ref))[1].endswith(": Layer already exists")
    raw = Http(open_registry.url)("GET", "/v2/wc/busybox/manifests/v1").data
    assert sha(raw) == digest

    env = {"WHARFIE_ROOT": str(tmp_path / "other-root")}
    pulled = lines(wharfie("pull", ref, env=env))
    assert f"Digest: {digest}" in pulled
    wharfie("tag", ref, f"{host}/wc/copy:v2", env=env)
    mounted = lines(wharfie("push", f"{host}/wc/copy:v2", env=env))
    assert mounted[1].endswith(": Mounted from wc/busybox"), mounted

    layout = tmp_path / "layout"
    assert lines(wharfie("copy", f"docker://{ref}", f"oci:{layout}:v1"))[-1] == \
        f"Digest: {digest}"
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == digest


def test_wharfie_login_through_the_token_service(wharfie, start_registry, busybox_rootfs_tar,
                                                  tmp_path):
    htpasswd = tmp_path / "htpasswd"
    for user in ("alice", "reader"):
        wharfie("registry", "user", "add", str(htpasswd), user, "--password-stdin",
                input=f"{user}-pw\n".encode())
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    server = start_registry("--htpasswd", str(htpasswd), "--policy", str(policy))
    env = {"DOCKER_CONFIG": str(tmp_path / "dockercfg"),
           "REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    ref = f"{server.host}/team/app:v1"
    wharfie("import", str(busybox_rootfs_tar), ref, env=env)
    denied = wharfie("push", ref, check=False, env=env)
    assert denied.returncode != 0
    bad = wharfie("login", server.host, "-u", "alice", "--password-stdin", input=b"nope\n",
                  check=False, env=env)
    assert bad.returncode != 0
    ok = wharfie("login", server.host, "-u", "alice", "--password-stdin",
                 input=b"alice-pw\n", env=env)
    assert lines(ok)[-1] == "Login Succeeded"
    assert lines(wharfie("push", ref, env=env))[1].endswith(": Pushed")
    wharfie("login", server.host, "-u", "reader", "--password-stdin", input=b"reader-pw\n",
            env=env)
    env2 = {**env, "WHARFIE_ROOT": str(tmp_path / "root2")}
    assert any(x.startswith("Digest: sha256:") for x in lines(wharfie("pull", ref, env=env2)))
    wharfie("tag", ref, f"{server.host}/team/other:v1", env=env2)
    refused = wharfie("push", f"{server.host}/team/other:v1", check=False, env=env2)
    assert refused.returncode != 0
    assert "denied" in refused.stderr.decode().lower()
