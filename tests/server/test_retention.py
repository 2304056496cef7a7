"""Retention rules from the policy file, applied on demand by ``wharfie registry retention``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from regtest import Http

from wharfie.server.policy import semver_match

POLICY = """
immutable_tags:
  - {repos: ["ret/*"], tags: ["release-*"]}
retention:
  - repos: ["ret/keep*"]
    keep_last: 2
    keep_tags: "^stable$"
    keep_semver: ">=2.0,<3"
    untagged_older_than: 1h
  - repos: ["ret/*"]
    untagged_older_than: 1d
"""


def retention(server, policy, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", str(server.data.parent),
                          "registry", "retention", "--data", str(server.data),
                          "--policy", str(policy), *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def set_age(server, repo: str, key: str, seconds: float) -> None:
    path = server.data / "storage" / "repositories" / repo / "_manifests" / key
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_keep_last_regex_semver_immutable_and_untagged(start_registry, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    server = start_registry("--policy", str(policy))
    http = Http(server.url)
    tags = ["t1", "t2", "t3", "t4", "2.1.0", "1.9.0", "stable", "release-1"]
    digests = {}
    for i, tag in enumerate(tags):
        digests[tag], _ = http.push_image("ret/keep", tag)
        set_age(server, "ret/keep", f"tags/{tag}", 1000 * (len(tags) - i))  # t1 oldest
    untagged_old, _ = http.push_image("ret/keep", None)
    untagged_new, _ = http.push_image("ret/keep", None)
    hex_old = untagged_old.split(":")[1]
    set_age(server, "ret/keep", f"revisions/sha256/{hex_old}", 2 * 3600)
    other_old, _ = http.push_image("ret/other", None)
    set_age(server, "ret/other", f"revisions/sha256/{other_old.split(':')[1]}", 2 * 3600)

    dry = retention(server, policy, "--dry-run")
    # Newest two are stable and release-1; 2.1.0 is in the semver range; stable and the
    # immutable release-1 are protected anyway.
    for tag in ("t1", "t2", "t3", "t4", "1.9.0"):
        assert f"would delete tag ret/keep:{tag} ({digests[tag]})" in dry
    for tag in ("2.1.0", "stable", "release-1"):
        assert f"ret/keep:{tag} " not in dry
    assert f"would delete untagged manifest ret/keep@{untagged_old}" in dry
    assert untagged_new not in dry and other_old not in dry
    assert http("GET", "/v2/ret/keep/manifests/t1").status == 200

    out = retention(server, policy)
    assert "deleted 5 tags, 1 untagged manifests" in out
    left = http("GET", "/v2/ret/keep/tags/list").json()["tags"]
    assert sorted(left) == ["2.1.0", "release-1", "stable"]
    assert http("GET", f"/v2/ret/keep/manifests/{untagged_old}").status == 404
    assert http("GET", f"/v2/ret/keep/manifests/{untagged_new}").status == 200
    assert http("GET", f"/v2/ret/other/manifests/{other_old}").status == 200
    audit = (server.data / "audit.log").read_text()
    assert '"who": "retention"' in audit and '"tag": "t1"' in audit


@pytest.mark.parametrize(("tag", "constraint", "ok"), [
    ("1.4.2", ">=1.0,<2", True), ("v2.0.0", ">=1.0,<2", False), ("1.4", ">=1.4.0", True),
    ("latest", ">=0", False), ("3.1.0-rc1", ">3", True), ("0.9", "<1,!=0.9", False)])
def test_semver_constraints(tag, constraint, ok):
    assert semver_match(tag, constraint) is ok


def test_retention_runs_on_a_schedule(start_registry, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('retention:\n  - {repos: ["sched/*"], keep_last: 1}\n')
    server = start_registry("--policy", str(policy), "--maintenance-every", "1s")
    http = Http(server.url)
    http.push_image("sched/app", "old")
    set_age(server, "sched/app", "tags/old", 100)
    http.push_image("sched/app", "new")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if http("GET", "/v2/sched/app/tags/list").json()["tags"] == ["new"]:
            break
        time.sleep(0.3)
    assert http("GET", "/v2/sched/app/tags/list").json()["tags"] == ["new"]
