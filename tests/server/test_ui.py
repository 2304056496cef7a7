"""The registry's web interface (/ui/) in Debian's headless chromium, driven by Playwright
with the system browser, against real ``wharfie registry serve`` processes: login, browsing
to an image skopeo pushed, deleting as an admin and not as a reader, a signature's verdict,
every page and action per role, and a security pass (XSS, CSRF, open redirects)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import quote

import pytest
import urllib3
from playwright.sync_api import Browser, Page, expect, sync_playwright
from regtest import Http, make_layout, skopeo

from wharfie.api import Client
from wharfie.testing import random
from wharfie.testing.random import add_image

POLICY = """
groups:
  admins: [alice]
access:
  - {repos: ["team/*"], groups: [admins], actions: [pull, push, delete]}
  - {repos: ["team/*"], users: [reader], actions: [pull]}
  - {repos: ["team/*"], users: ["robot$builder"], actions: [pull, delete]}  # granted: pull
  - {repos: ["public/*"], users: [anonymous, "*"], actions: [pull]}
  - {repos: ["public/*"], users: [alice], actions: [push, delete]}
  - {repos: ["ci/*"], users: [alice], actions: [pull, push, delete]}
immutable_tags:
  - {repos: ["*"], tags: ["v*"]}
quotas:
  team: 50MiB
retention:
  - {repos: ["team/keep*"], keep_last: 1}
"""
USERS = {"alice": "alice-pw", "reader": "reader-pw", "outsider": "outsider-pw"}
XSS = "<img src=x onerror=\"window.__xss=1;alert('xss')\">"


def wharfie(*args: str, input: str | None = None, root=None, env=None):
    res = subprocess.run([sys.executable, "-m", "wharfie", "--root", str(root), *args],
                         input=input, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def secured(start_shared_registry, tmp_path_factory):
    """A registry with htpasswd users, a robot and the policy above."""
    d = tmp_path_factory.mktemp("ui")
    htpasswd = d / "htpasswd"
    for user, pw in USERS.items():
        wharfie("registry", "user", "add", str(htpasswd), user, "--password-stdin",
                input=pw + "\n", root=d)
    (d / "policy.yaml").write_text(POLICY)
    data = d / "data"
    robot = wharfie("registry", "robot", "create", "builder", "--repo", "team/*", "--action",
                    "pull", "--data", str(data), root=d).stdout.strip()
    server = start_shared_registry("--htpasswd", str(htpasswd), "--policy",
                                   str(d / "policy.yaml"), data=data)
    server.creds = {**USERS, "robot$builder": robot}
    return server


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context()
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """Where the screenshots go (pytest's tmp dir, never the repository)."""
    return tmp_path_factory.mktemp("ui-screenshots")


def login(page: Page, server, user: str, next_path: str = "/ui/") -> None:
    page.goto(f"{server.url}/ui/login?next={quote(next_path)}")
    page.fill("#username", user)
    page.fill("#password", server.creds[user])
    page.click("form.login button[type=submit]")
    expect(page.locator("header .who")).to_contain_text(user)


class UiClient:
    """A cookie-keeping HTTP client for the interface, as a browser would talk to it."""

    def __init__(self, server, user: str | None = None) -> None:
        self.base = server.url
        self.pool = urllib3.PoolManager(retries=False)
        self.cookie = ""
        if user:
            r = self.post("/ui/login", {"username": user, "password": server.creds[user]})
            assert r.status == 303, r.data

    def request(self, method: str, path: str, fields=None, headers=None):
        h = {"Cookie": self.cookie} if self.cookie else {}
        h.update(headers or {})
        if fields is not None:
            r = self.pool.request_encode_body(method, self.base + path, fields=fields,
                                              headers=h, encode_multipart=False, redirect=False)
        else:
            r = self.pool.request(method, self.base + path, headers=h, redirect=False)
        if "Set-Cookie" in r.headers:
            self.cookie = r.headers["Set-Cookie"].split(";")[0]
        return r

    def get(self, path: str):
        return self.request("GET", path)

    def csrf(self) -> str:
        html = self.get("/ui/login").data.decode()
        return re.search(r'name="csrf" value="([0-9a-f]+)"', html)[1]

    def post(self, path: str, fields: dict, csrf: bool = True, headers=None):
        return self.request("POST", path, {**fields, **({"csrf": self.csrf()} if csrf else {})},
                            headers)


def push(server, repo: str, tag: str, user: str = "alice", **kw) -> str:
    digest, _ = Http(server.url, (user, server.creds[user])).push_image(repo, tag, **kw)
    return digest


def tags_of(server, repo: str) -> list[str]:
    r = Http(server.url, ("alice", "alice-pw"))("GET", f"/v2/{repo}/tags/list")
    return json.loads(r.data)["tags"] if r.status == 200 else []


# ---- browsing ----

def test_login_and_browse_to_a_skopeo_image(secured, page, shots, tmp_path):
    layout = tmp_path / "layout"
    digest = make_layout(layout, "v1", (300_000, 20_000))
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:alice-pw",
           f"oci:{layout}:v1", f"docker://{secured.host}/team/app:v1")
    page.goto(f"{secured.url}/ui/")
    expect(page.locator("main")).not_to_contain_text("team/app")  # anonymous: public only
    login(page, secured, "reader")
    page.screenshot(path=shots / "repositories.png", full_page=True)
    page.click("text=team/app")
    expect(page.locator("h1")).to_have_text("team/app")
    row = page.locator("tr", has_text="v1")
    expect(row).to_contain_text("immutable")
    expect(row).to_contain_text("linux/amd64")
    page.screenshot(path=shots / "tags.png", full_page=True)
    page.click("a:text-is('v1')")
    expect(page.locator("dl.kv").first).to_contain_text(digest)
    layers = page.locator("#layers-h + div tbody tr")
    expect(layers).to_have_count(2)
    expect(page.locator("#hist-h + div tbody tr")).to_have_count(2)
    expect(page.locator("#pull-command")).to_have_text(
        f"docker pull {secured.host}/team/app@{digest}")
    page.screenshot(path=shots / "image.png", full_page=True)
    assert page.dialogs == []


def test_admin_deletes_a_tag(secured, page, shots):
    push(secured, "team/del", "old")
    push(secured, "team/del", "keep")
    login(page, secured, "alice", "/ui/repos/team/del/-/tags")
    expect(page.locator("h1")).to_have_text("team/del")
    page.click("button[aria-label='Delete tag old']")
    expect(page.locator("h1")).to_have_text("team/del")
    expect(page.locator("tbody")).not_to_contain_text("old")
    assert tags_of(secured, "team/del") == ["keep"]
    page.goto(f"{secured.url}/ui/governance?action=manifest.delete&repo=team/del")
    expect(page.locator("#audit-h ~ div tbody")).to_contain_text("alice")
    expect(page.locator("#audit-h ~ div tbody")).to_contain_text("tag=old")
    page.screenshot(path=shots / "governance.png", full_page=True)


def test_reader_cannot_delete(secured, page):
    push(secured, "team/ro", "latest")
    login(page, secured, "reader", "/ui/repos/team/ro/-/tags")
    expect(page.locator("tbody")).to_contain_text("latest")
    expect(page.locator("button.danger")).to_have_count(0)
    ui = UiClient(secured, "reader")  # forced: the reader's own session and a valid token
    r = ui.post("/ui/repos/team/ro/-/delete", {"ref": "latest"})
    assert r.status == 403
    assert tags_of(secured, "team/ro") == ["latest"]


def test_signature_verdict(start_registry, page, shots, tmp_path):
    """An image signed with ``wharfie sign`` shows as signed, and its signature's payload as
    naming this image; an unsigned one as not signed."""
    server = start_registry()
    root = tmp_path / "root"
    ref = f"{server.host}/sig/app:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=3)
        client.push(ref)
        add_image(client.store, f"{server.host}/sig/app:2", seed=4)
        client.push(f"{server.host}/sig/app:2")
    env = {"WHARFIE_PASSWORD": "s3cret", "PATH": "/usr/bin:/bin"}
    wharfie("key", "generate", "--output-key-prefix", str(tmp_path / "cosign"), root=root,
            env=env)
    wharfie("sign", "--key", str(tmp_path / "cosign.key"), ref, root=root, env=env)
    page.goto(f"{server.url}/ui/repos/sig/app/-/tags")
    expect(page.locator("tr", has_text="sha256-")).to_contain_text("signature")
    expect(page.locator("tr:has(a:text-is('1'))")).to_contain_text("signed")
    expect(page.locator("tr:has(a:text-is('2')) td").nth(8)).to_have_text("no")
    page.click("a:text-is('1')")
    expect(page.locator(".verdict")).to_contain_text("names this image")
    expect(page.locator(".verdict")).to_contain_text(f"{server.host}/sig/app")
    page.screenshot(path=shots / "signed-image.png", full_page=True)
    page.goto(f"{server.url}/ui/repos/sig/app/-/m/2")
    expect(page.locator("#sig-h + p")).to_have_text("Not signed.")


def test_index_shows_each_platform(secured, page):
    alice = Http(secured.url, ("alice", "alice-pw"))
    children = []
    for arch in ("amd64", "arm64"):
        digest = push(secured, "team/multi", None)
        children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": digest, "size": len(alice(
                             "GET", f"/v2/team/multi/manifests/{digest}",
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
                         ).data), "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    r = alice.push_manifest("team/multi", "latest", index,
                            "application/vnd.oci.image.index.v1+json")
    assert r.status == 201
    login(page, secured, "reader", "/ui/repos/team/multi/-/m/latest")
    rows = page.locator("#plat-h + div tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("linux/arm64")
    rows.nth(1).locator("a").click()
    expect(page.locator("#layers-h")).to_be_visible()


# ---- the access policy, per role ----

ROLES = ["anonymous", "reader", "alice", "outsider", "robot$builder"]
# (path, {role: status}); 303 is "sign in first"
PAGES = [
    ("/ui/", dict.fromkeys(ROLES, 200)),
    ("/ui/repos/team/pol/-/tags", {"anonymous": 303, "reader": 200, "alice": 200,
                                   "outsider": 403, "robot$builder": 200}),
    ("/ui/repos/team/pol/-/m/latest", {"anonymous": 303, "reader": 200, "alice": 200,
                                       "outsider": 403, "robot$builder": 200}),
    # a robot sees only what both its grants and the policy allow
    ("/ui/repos/public/pol/-/m/latest", {**dict.fromkeys(ROLES, 200), "robot$builder": 403}),
    ("/ui/governance", {"anonymous": 303, "reader": 200, "alice": 200, "outsider": 200,
                        "robot$builder": 200}),
    ("/ui/health", {"anonymous": 303, "reader": 200, "alice": 200, "outsider": 200,
                    "robot$builder": 200}),
]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_action_per_role(secured, role):
    push(secured, "team/pol", "latest")
    push(secured, "public/pol", "latest")
    ui = UiClient(secured, None if role == "anonymous" else role)
    for path, want in PAGES:
        r = ui.get(path)
        assert r.status == want[role], (path, r.status)
        if r.status == 303:
            assert r.headers["Location"].startswith("/ui/login?next=")
    listed = json.loads(ui.get("/ui/api/repos").data)["repositories"]
    names = {x["name"] for x in listed}
    assert ("public/pol" in names) == (role != "robot$builder")
    assert ("team/pol" in names) == (role in ("reader", "alice", "robot$builder"))
    api = ui.get("/ui/api/repos/team/pol/-/tags")
    assert api.status == {"anonymous": 401, "outsider": 403}.get(role, 200)
    if api.status == 200:
        assert json.loads(api.data)["may_delete"] == (role == "alice")
    for repo in ("team/pol", "public/pol"):
        r = ui.post(f"/ui/repos/{repo}/-/delete", {"ref": "latest"})
        assert (r.status == 303) == (role == "alice"), (repo, r.status)
        assert ("latest" in tags_of(secured, repo)) == (role != "alice")


def test_retention_dry_run_and_apply_only_for_admins(secured, page, shots):
    for tag in ("a", "b", "c"):
        push(secured, "team/keepone", tag)
    reader = UiClient(secured, "reader")
    seen = json.loads(reader.get("/ui/api/governance").data)["retention"]
    assert {t["tag"] for t in seen["tags"] if t["repository"] == "team/keepone"} == {"a", "b"}
    assert seen["may_apply"] is False
    assert reader.post("/ui/governance/retention", {}).status == 403
    assert tags_of(secured, "team/keepone") == ["a", "b", "c"]
    login(page, secured, "alice", "/ui/governance")
    expect(page.locator("#ret-h ~ ul")).to_contain_text("team/keepone:a")
    page.screenshot(path=shots / "retention.png", full_page=True)
    page.click("text=Apply retention now")
    expect(page.locator("#ret-h ~ p").first).to_contain_text("0 tags")
    assert tags_of(secured, "team/keepone") == ["c"]


def test_governance_quotas_and_health(secured, page, shots):
    push(secured, "team/q", "latest")
    alice = Http(secured.url, ("alice", "alice-pw"))
    assert alice("POST", "/v2/team/q/blobs/uploads/").status == 202  # left open
    ui = UiClient(secured, "alice")
    quotas = json.loads(ui.get("/ui/api/governance").data)["quotas"]
    assert quotas[0]["namespace"] == "team" and 0 < quotas[0]["used"] < quotas[0]["quota"]
    assert quotas[0]["quota"] == 50 << 20
    before = json.loads(ui.get("/ui/api/health").data)
    assert any(u["repository"] == "team/q" for u in before["uploads"])
    assert before["storage_bytes"] > 0
    outsider = json.loads(UiClient(secured, "outsider").get("/ui/api/health").data)
    assert not any(u["repository"] == "team/q" for u in outsider["uploads"])
    d = secured.data.parent
    wharfie("registry", "gc", "--data", str(secured.data), root=d)
    after = json.loads(ui.get("/ui/api/health").data)
    assert after["gc_last_run"] is not None and after["gc_reclaimed_bytes"] == 0
    login(page, secured, "alice", "/ui/health")
    expect(page.locator("dl.kv")).to_contain_text("Uploads in progress")
    page.screenshot(path=shots / "health.png", full_page=True)


# ---- security ----

def test_xss_through_labels_annotations_and_tag_names_does_not_run(secured, page, shots):
    digest = push(secured, "public/xss", "latest", extra={
        "annotations": {"org.example.note": XSS, XSS: "key"}})
    r = Http(secured.url, ("alice", "alice-pw"))("PUT", f"/v2/public/xss/manifests/{quote(XSS)}",
                                                body=b"{}")
    assert r.status == 400  # a tag name can only be [\w][\w.-]*: refused before any page
    # a label: the image config is made by the test too
    labelled = _push_labelled(secured, "public/xss", "labelled", {"evil": XSS})
    for path in ("/ui/repos/public/xss/-/m/latest", f"/ui/repos/public/xss/-/m/{digest}",
                 "/ui/repos/public/xss/-/m/labelled", "/ui/repos/public/xss/-/tags",
                 f"/ui/?q={quote(XSS)}", f"/ui/repos/public/xss/-/tags?q={quote(XSS)}",
                 f"/ui/governance?who={quote(XSS)}", f"/ui/login?next={quote(XSS)}"):
        resp = page.goto(secured.url + path)
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
    page.goto(f"{secured.url}/ui/repos/public/xss/-/m/labelled")
    expect(page.locator("dl.kv dd", has_text="onerror").first).to_have_text(XSS)
    page.goto(f"{secured.url}/ui/repos/public/xss/-/m/latest")
    expect(page.locator("dl.kv dd", has_text="onerror").first).to_have_text(XSS)
    page.screenshot(path=shots / "xss-as-text.png", full_page=True)
    assert page.dialogs == []
    assert labelled


def _push_labelled(server, repo: str, tag: str, labels: dict) -> str:
    image = random.image(1000, raw=True, labels=labels)
    http = Http(server.url, ("alice", "alice-pw"))
    for _, data in image.push_order():
        http.push_blob(repo, data)
    assert http.push_manifest(repo, tag, image.manifest.raw).status == 201
    return tag


def test_csrf_on_delete_is_refused(secured):
    push(secured, "team/csrf", "latest")
    ui = UiClient(secured, "alice")
    path = "/ui/repos/team/csrf/-/delete"
    assert ui.post(path, {"ref": "latest"}, csrf=False).status == 403
    assert ui.post(path, {"ref": "latest", "csrf": "0" * 64}, csrf=False).status == 403
    assert ui.post(path, {"ref": "latest"},
                   headers={"Origin": "http://evil.example"}).status == 403
    assert ui.post(path, {"ref": "latest"}, headers={"Sec-Fetch-Site": "cross-site"}).status \
        == 403
    other = UiClient(secured, "reader")  # a token from another session does not carry over
    stolen = other.csrf()
    assert ui.post(path, {"ref": "latest", "csrf": stolen}, csrf=False).status == 403
    assert tags_of(secured, "team/csrf") == ["latest"]
    basic = Http(secured.url, ("alice", "alice-pw"))  # credentials without the session form
    assert basic("POST", path, fields={"ref": "latest"}).status == 403
    assert tags_of(secured, "team/csrf") == ["latest"]
    r = ui.post(path, {"ref": "latest"}, headers={"Origin": secured.url})
    assert r.status == 303 and tags_of(secured, "team/csrf") == []


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/ui/", "/\\evil.example", "/ui//evil.example",
    "javascript:alert(1)", "/ui/../v2/", "/v2/_catalog", "http:/ui/", "/ui/\tx"])
def test_login_refuses_open_redirects(secured, target):
    ui = UiClient(secured)
    r = ui.post("/ui/login", {"username": "reader", "password": "reader-pw", "next": target})
    assert r.status == 303 and r.headers["Location"] == "/ui/"


def test_login_goes_back_to_a_local_page_and_refuses_wrong_passwords(secured):
    ui = UiClient(secured)
    r = ui.post("/ui/login", {"username": "reader", "password": "nope", "next": "/ui/health"})
    assert r.status == 401 and b"wrong user name or password" in r.data
    r = ui.post("/ui/login", {"username": "reader", "password": "reader-pw",
                              "next": "/ui/repos/team/app/-/tags?sort=-pushed"})
    assert r.status == 303 and r.headers["Location"] == "/ui/repos/team/app/-/tags?sort=-pushed"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui/" in cookie


# ---- last pulled, pagination ----

def test_last_pulled_is_written_behind_and_kept_across_restarts(start_registry):
    """A manifest GET marks its image pulled (a HEAD does not); the tag list shows it at
    once, and the time is in storage after the server stops (written behind, never on the
    read path)."""
    server = start_registry()
    http = Http(server.url)
    pulled, _ = http.push_image("lp/app", "pulled")
    http.push_image("lp/app", "headed")
    http.push_image("lp/app", "untouched")
    assert http("HEAD", "/v2/lp/app/manifests/headed").status == 200
    assert http("GET", "/v2/lp/app/manifests/pulled", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"}).status == 200
    ui = UiClient(server)
    rows = {t["tag"]: t for t in json.loads(ui.get("/ui/api/repos/lp/app/-/tags").data)["tags"]}
    assert rows["pulled"]["pulled"] and not rows["headed"]["pulled"]
    assert not rows["untouched"]["pulled"]
    newest = json.loads(ui.get("/ui/api/repos/lp/app/-/tags?sort=-pulled").data)["tags"]
    assert newest[0]["tag"] == "pulled"
    server.proc.terminate()
    server.proc.wait(10)
    stored = json.loads((server.data / "storage" / "repositories" / "lp" / "app" /
                         "_pulls").read_text())
    assert list(stored) == [pulled]


def test_tag_list_is_paginated(start_registry):
    """120 tags: pages of 50 in name order, each read alone, with a link to the next; a
    filter pages over what it matched; sorting by size still pages."""
    server = start_registry()
    http = Http(server.url)
    for n in range(120):
        http.push_image("many/tags", f"t{n:03d}")
    ui = UiClient(server)
    seen, start = [], 0
    while start is not None:
        doc = json.loads(ui.get(f"/ui/api/repos/many/tags/-/tags?start={start}").data)
        assert doc["total"] == 120 and len(doc["tags"]) <= 50
        seen += [t["tag"] for t in doc["tags"]]
        start = doc["next"]
    assert seen == [f"t{n:03d}" for n in range(120)]
    doc = json.loads(ui.get("/ui/api/repos/many/tags/-/tags?q=t1&sort=-tag").data)
    assert doc["total"] == 20 and doc["tags"][0]["tag"] == "t119" and doc["next"] is None
    doc = json.loads(ui.get("/ui/api/repos/many/tags/-/tags?sort=size&start=100").data)
    assert len(doc["tags"]) == 20 and doc["next"] is None
    html = ui.get("/ui/repos/many/tags/-/tags").data.decode()
    assert 'rel="next"' in html and "start=50" in html
    assert ui.get("/ui/api/repos/many/tags/-/tags?start=x").status == 400
