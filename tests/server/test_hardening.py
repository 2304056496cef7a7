"""Issue 12, the server side: revoked credentials, GC while serving, races between worker
processes, quotas, foreign URLs, upload limits and malformed manifests."""

from __future__ import annotations

import base64
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from regtest import Http, errors_of, sha

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


# ---- races between worker processes: one namespace lock for check and write ----

RACES = 30


@pytest.fixture
def guarded(start_registry, tmp_path):
    """An open server with --workers 2, immutable v* tags and 1 MiB quotas."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "immutable_tags": [{"repos": ["*"], "tags": ["v*"]}],
        "quotas": {**{f"q{i}": "1MiB" for i in range(RACES)}, "quota": "1MiB"}}))
    return start_registry("--policy", str(policy), "--workers", "2")


def race(*calls):
    """Run the calls at the same moment, on separate connections; their results."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_immutable_new_tag_race_has_one_winner(guarded):
    http = Http(guarded.url, maxsize=4)
    for i in range(RACES):
        raws = [http.push_image("imm/app", None, [os.urandom(100)])[1] for _ in range(2)]
        clients = [Http(guarded.url) for _ in raws]
        results = race(*[lambda c=c, raw=raw, i=i: c.push_manifest("imm/app", f"v{i}", raw)
                         for c, raw in zip(clients, raws, strict=True)])
        assert sorted(r.status for r in results) == [201, 403], i
        winner = raws[[r.status for r in results].index(201)]
        assert http("GET", f"/v2/imm/app/manifests/v{i}").data == winner


def test_quota_race_never_exceeded(guarded):
    for i in range(RACES):
        blobs = [os.urandom(600 << 10) for _ in range(2)]
        clients = [Http(guarded.url) for _ in blobs]
        results = race(*[lambda c=c, b=b, r=r, i=i: c("POST", f"/v2/q{i}/{r}/blobs/uploads/"
                                                          f"?digest={sha(b)}", body=b)
                         for c, b, r in zip(clients, blobs, "ab", strict=True)])
        assert sorted(r.status for r in results) == [201, 403], i
        present = [Http(guarded.url)("HEAD", f"/v2/q{i}/{r}/blobs/{sha(b)}").status
                   for b, r in zip(blobs, "ab", strict=True)]
        assert sorted(present) == [200, 404]


# ---- H3: gc --delete-untagged while serving keeps every push answered 201 ----

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def backdate(storage, seconds: float) -> None:
    """Make everything stored look ``seconds`` old, past GC's grace."""
    old = time.time() - seconds
    for dirpath, dirs, files in os.walk(storage):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            os.utime(os.path.join(dirpath, f), (old, old))


def assert_complete(http: Http, repo: str, tag: str, digest: str) -> None:
    r = http("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": "*/*"})
    assert r.status == 200 and sha(r.data) == digest, (repo, tag, r.status)
    doc = json.loads(r.data)
    for child in doc.get("manifests", []):
        assert_complete(http, repo, child["digest"], child["digest"])
    for blob in [doc["config"], *doc["layers"]] if "config" in doc else []:
        r = http("HEAD", f"/v2/{repo}/blobs/{blob['digest']}")
        assert r.status == 200 and int(r.headers["Content-Length"]) == blob["size"], (
            repo, tag, blob["digest"], r.status)


def test_gc_delete_untagged_while_serving_loses_no_push(start_registry, tmp_path):
    """20 GC rounds racing pushes, re-pushes of old untagged manifests under new tags,
    indexes over them, and tag deletes, on --workers 2: every tag answered 201 and not
    deleted still names a complete image at the end."""
    server = start_registry("--workers", "2", data=tmp_path / "data")
    http = Http(server.url, maxsize=8)
    repos = ["gc/a", "gc/b", "gc/c"]
    loose: list[tuple[str, str, bytes]] = []   # pushed by digest: repo, digest, raw
    tagged: dict[tuple[str, str], str] = {}    # (repo, tag) -> digest, answered 201
    lock = threading.Lock()
    serial = iter(range(10**6))

    def push_tag(repo: str, raw: bytes, media_type: str = OCI_MANIFEST) -> None:
        tag = f"t{next(serial)}"
        if http.push_manifest(repo, tag, raw, media_type).status == 201:
            with lock:
                tagged[(repo, tag)] = sha(raw)

    def op(rng) -> None:
        kind = rng.random()
        with lock:
            old, tags = list(loose), list(tagged)
        if kind < 0.55 and old:  # an old, untagged manifest under a new tag
            repo, _, raw = rng.choice(old)
            push_tag(repo, raw)
        elif kind < 0.75 and len(old) > 1:
            repo = rng.choice(repos)
            mine = [x for x in old if x[0] == repo][:2] or [x for x in old if x[0] == repo]
            children = [{"mediaType": OCI_MANIFEST, "digest": d, "size": len(raw)}
                        for _, d, raw in mine]
            push_tag(repo, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                       "manifests": children}).encode(), OCI_INDEX)
        elif kind < 0.9 or not tags:
            repo = rng.choice(repos)
            push_tag(repo, http.push_image(repo, None, [os.urandom(200)])[1])
        else:
            key = rng.choice(tags)
            with lock:
                tagged.pop(key, None)
            http("DELETE", f"/v2/{key[0]}/manifests/{key[1]}")

    for round_ in range(20):
        loose[:] = []
        for k in range(30):
            repo = repos[k % 3]
            loose.append((repo, *http.push_image(repo, None, [os.urandom(100)])))
        backdate(server.data / "storage", 7200)
        gc = subprocess.Popen([sys.executable, "-m", "wharfie", "--root", str(tmp_path / "r"),
                               "registry", "gc", "--delete-untagged", "--grace", "2m",
                               "--data", str(server.data)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)

        def worker(seed: int, gc=gc) -> None:
            rng = random.Random(seed)
            while gc.poll() is None:
                op(rng)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(worker, [round_ * 10 + k for k in range(4)]))
        _, err = gc.communicate()
        assert gc.returncode == 0, err
    for (repo, tag), digest in sorted(tagged.items()):
        assert_complete(http, repo, tag, digest)


# ---- quotas count manifests and unfinished uploads; upload sessions are capped ----


def test_manifest_counts_against_quota(guarded):
    http = Http(guarded.url)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = os.urandom((1 << 20) - len(config) - 100)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": http.push_blob("quota/m", config), "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": http.push_blob("quota/m", layer), "size": len(layer)}]}
    r = http.push_manifest("quota/m", "t", json.dumps(doc).encode())  # ~400 bytes: 100 too many
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert json.loads(r.data)["errors"][0]["message"] == "storage quota exceeded"


def test_unfinished_uploads_count_against_quota(guarded):
    http = Http(guarded.url)
    first = http("POST", "/v2/quota/u/blobs/uploads/").headers["Location"]
    r = http("PATCH", first, body=os.urandom(900 << 10))
    assert r.status == 202
    second = http("POST", "/v2/quota/u/blobs/uploads/").headers["Location"]
    r = http("PATCH", second, body=os.urandom(200 << 10))
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert http("DELETE", first).status == 204  # cancelled: the space is free again
    assert http("PATCH", second, body=os.urandom(200 << 10)).status == 202


def test_open_upload_sessions_are_capped_per_client(guarded):
    http = Http(guarded.url)
    for i in range(64):
        assert http("POST", f"/v2/sessions/r{i % 4}/blobs/uploads/").status == 202
    r = http("POST", "/v2/sessions/r0/blobs/uploads/")
    assert r.status == 429 and errors_of(r) == ["TOOMANYREQUESTS"]


# ---- immutable images keep their blobs; manifests are checked to the byte ----


def test_blob_of_an_immutable_image_cannot_be_deleted(guarded):
    http = Http(guarded.url)
    layer = os.urandom(500)
    http.push_image("keep/app", "v1", [layer])
    r = http("DELETE", f"/v2/keep/app/blobs/{sha(layer)}")
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    assert http("HEAD", f"/v2/keep/app/blobs/{sha(layer)}").status == 200
    other = os.urandom(300)
    _, child = http.push_image("keep/idx", None, [other])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(child), "size": len(child)}]}).encode()
    assert http.push_manifest("keep/idx", "v2", index, OCI_INDEX).status == 201
    r = http("DELETE", f"/v2/keep/idx/blobs/{sha(other)}")  # through the index's child
    assert r.status == 403 and errors_of(r) == ["DENIED"]
    http.push_image("keep/app", "latest", [b"mutable"])
    assert http("DELETE", f"/v2/keep/app/blobs/{sha(b'mutable')}").status == 202


def foreign(http: Http, repo: str, url: str, on_config: bool = False) -> bytes:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    absent = os.urandom(50)
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
           "size": len(config)}
    if on_config:
        cfg["urls"] = [url]
    else:
        http.push_blob(repo, config)
    layer = {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
             "digest": sha(absent), "size": len(absent), "urls": [url]}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg,
                       "layers": [layer]}).encode()


def test_foreign_urls_refused_unless_allowed(guarded, start_registry):
    http = Http(guarded.url)
    r = http.push_manifest("urls/app", "t", foreign(http, "urls/app", "https://cdn.example/x"))
    assert r.status == 400 and errors_of(r) == ["MANIFEST_BLOB_UNKNOWN"]
    allowing = start_registry("--allow-foreign-url", r"^https://cdn\.example/")
    http = Http(allowing.url)
    ok = foreign(http, "urls/app", "https://cdn.example/x")
    assert http.push_manifest("urls/app", "t", ok).status == 201
    r = http.push_manifest("urls/app", "t", foreign(http, "urls/app", "https://evil.example/x"))
    assert r.status == 400 and errors_of(r) == ["MANIFEST_BLOB_UNKNOWN"]
    r = http.push_manifest("urls/app", "t", foreign(http, "urls/app", "https://cdn.example/x",
                                                    on_config=True))
    assert r.status == 400 and errors_of(r) == ["MANIFEST_BLOB_UNKNOWN"]


@pytest.mark.parametrize("tag", ["ｖ1.0", "lаtest", "é"])
def test_tags_are_ascii(guarded, tag):
    http = Http(guarded.url)
    _, raw = http.push_image("tags/app", None)
    r = http.push_manifest("tags/app", tag, raw)
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]


def test_deeply_nested_manifest_is_invalid_not_a_crash(guarded):
    raw = b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","x":' + \
        b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = Http(guarded.url).push_manifest("deep/app", "t", raw)
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]


def test_descriptor_sizes_must_match_the_blobs(guarded):
    http = Http(guarded.url)
    digest, raw = http.push_image("size/app", None, [os.urandom(1000)])
    doc = json.loads(raw)
    doc["layers"][0]["size"] = 10
    r = http.push_manifest("size/app", "t", json.dumps(doc).encode())
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": 7}]}
    r = http.push_manifest("size/app", "i", json.dumps(index).encode(), OCI_INDEX)
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]


def test_filesystem_driver_syncs_parts_before_publishing(tmp_path, monkeypatch):
    """An upload part reaches the disk before its rename, the directory entry after."""
    from wharfie.server.storage.filesystem import FilesystemDriver

    driver = FilesystemDriver(tmp_path / "storage")
    synced: list[str] = []
    real = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    part = driver.spool_dir() / "part"
    part.write_bytes(b"data")
    driver.put_file("uploads/x/parts/0", part)
    assert synced == [str(part), str(tmp_path / "storage/uploads/x/parts")]
    driver.move("uploads/x/parts/0", "blobs/sha256/ab")
    assert synced[2:] == [str(tmp_path / "storage/uploads/x/parts/0"),
                          str(tmp_path / "storage/blobs/sha256")]


def test_immutable_tag_race_across_servers_on_one_s3_bucket(start_registry, tmp_path):
    """Replicas on shared S3 storage: the lock is a conditional put, so it holds too."""
    from regtest import free_port, wait_for_port

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30)
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"immutable_tags": [{"repos": ["*"], "tags": ["v*"]}]}))
        args = ["--policy", str(policy), "--s3-bucket", "locks", "--s3-endpoint",
                f"http://127.0.0.1:{port}"]
        servers = [start_registry(*args, data=tmp_path / f"s{k}", env=env) for k in (0, 1)]
        http = Http(servers[0].url)
        for i in range(10):
            raws = [http.push_image("imm/app", None, [os.urandom(100)])[1] for _ in range(2)]
            results = race(*[lambda s=s, raw=raw, i=i: Http(s.url).push_manifest(
                "imm/app", f"v{i}", raw) for s, raw in zip(servers, raws, strict=True)])
            assert sorted(r.status for r in results) == [201, 403], i
    finally:
        moto.terminate()
        moto.wait(10)
