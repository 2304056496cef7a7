"""The web interface's handlers, on the registry's own aiohttp application under ``/ui/``.

Every page is also JSON under ``/ui/api/`` (same handler, same checks). Rights come from the
same access object as the API (htpasswd, robots, the policy file); changes go through the
API's own handlers, so immutable tags, quotas and the audit log apply as they do there.
Handlers answer errors with pages, never by raising: the registry's error middleware would
turn an exception into a distribution-spec JSON error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from wharfie.server.auth import Access
from wharfie.server.errors import RegistryError
from wharfie.server.policy import ANONYMOUS, Principal
from wharfie.server.retention import apply_retention
from wharfie.server.ui import views
from wharfie.server.ui.session import Session, Sessions, safe_next

HERE = Path(__file__).parent
STATIC = {"ui.css": "text/css", "ui.js": "text/javascript"}
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}


class Refused(Exception):
    """A page the principal may not see or an action they may not take."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["size"] = human_size
    env.filters["short"] = lambda d: str(d)[:19] if d else ""
    return env


def _split(tail: str) -> tuple[str, str, str]:
    """``<repo>/-/<page>[/<ref>]`` (a repository path component is never ``-``)."""
    name, sep, rest = tail.partition("/-/")
    if not sep:
        raise Refused(404, "no such page")
    page, _, ref = rest.partition("/")
    return name, page, ref


class UI:
    def __init__(self, registry, sessions: Sessions) -> None:
        self.registry = registry
        self.store = registry.store
        self.access = registry.access
        self.sessions = sessions
        self.env = _environment()

    def add_routes(self, app: web.Application) -> None:
        get = {"/ui": self.to_index, "/ui/": self.repositories,
               "/ui/api/repos": self.repositories, "/ui/repos/{tail:.+}": self.repository,
               "/ui/api/repos/{tail:.+}": self.repository, "/ui/governance": self.governance,
               "/ui/api/governance": self.governance, "/ui/health": self.health,
               "/ui/api/health": self.health, "/ui/login": self.login_form,
               "/ui/static/{file}": self.static}
        post = {"/ui/repos/{tail:.+}": self.delete, "/ui/governance/retention": self.retention,
                "/ui/login": self.login, "/ui/logout": self.logout}
        for path, handler in get.items():
            app.router.add_route("GET", path, self._guard(handler))
        for path, handler in post.items():
            app.router.add_route("POST", path, self._guard(handler))

    # ---- plumbing ----

    def _guard(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                resp = await handler(request)
            except Refused as e:
                resp = await self._refusal(request, e.status, str(e))
            except RegistryError as e:
                resp = await self._refusal(request, e.status, e.message)
            resp.headers.update(SECURITY_HEADERS)
            return resp
        return guarded

    async def _refusal(self, request: web.Request, status: int, message: str):
        if status == 401 and not self._is_api(request) and request.method == "GET":
            return _see_other(f"/ui/login?{urlencode({'next': request.path_qs})}")
        return await self._render(request, "error.html", {"status": status,
                                                          "message": message}, status)

    @staticmethod
    def _is_api(request: web.Request) -> bool:
        return request.path.startswith("/ui/api/")

    async def _session(self, request: web.Request) -> tuple[Session, bool]:
        """The request's session (a fresh anonymous one when it has none or a stale one),
        and whether it must be written back."""
        if "ui_session" in request:
            return request["ui_session"], request["ui_session_new"]
        session, new = self.sessions.read(request), False
        if session is None or self._revoked(session):
            session, new = self.sessions.new(), True
        request["ui_session"], request["ui_session_new"] = session, new
        return session, new

    def _revoked(self, session: Session) -> bool:
        if session.kind == "anonymous" or not isinstance(self.access, Access):
            return False
        return self.access._revoked({"kind": session.kind, "sub": session.sub,
                                     "iat": session.iat})

    async def _principal(self, request: web.Request) -> Principal:
        """The session's principal; for API clients without one, their Authorization
        header, checked as the registry API checks it."""
        session, _ = await self._session(request)
        if session.kind == "anonymous":
            if "Authorization" in request.headers and request.method == "GET":
                return await self.access.authenticate(request)
            return ANONYMOUS
        groups = (self.access.policy.groups_of(session.sub)
                  if isinstance(self.access, Access) else frozenset())
        return Principal(session.sub, session.kind, groups)

    async def _may(self, request, principal: Principal, repo: str, action: str) -> bool:
        return await self.access.may(request, principal, repo, action)

    async def _require(self, request, principal: Principal, repo: str, action: str) -> None:
        if not await self._may(request, principal, repo, action):
            if principal.kind == "anonymous":
                raise Refused(401, "sign in to see this")
            raise Refused(403, f"{principal.name} may not {action} {repo}")

    def _signed_in_or_open(self, principal: Principal) -> None:
        if principal.kind == "anonymous" and isinstance(self.access, Access):
            raise Refused(401, "sign in to see this")

    async def _render(self, request: web.Request, template: str, ctx: dict,
                      status: int = 200) -> web.StreamResponse:
        session, new = await self._session(request)
        if self._is_api(request):
            resp: web.StreamResponse = web.Response(
                text=views.to_json(ctx), status=status, content_type="application/json")
        else:
            principal = await self._principal(request) if status != 401 else ANONYMOUS
            html = self.env.get_template(template).render(
                **ctx, me=principal, csrf=self.sessions.csrf_token(session),
                auth=isinstance(self.access, Access), path=request.path_qs)
            resp = web.Response(text=html, status=status, content_type="text/html")
        if new:
            self.sessions.write(resp, session)
        return resp

    async def _check_csrf(self, request: web.Request) -> dict:
        form = await request.post()
        session = self.sessions.read(request)
        if session is None or self._revoked(session) or not self.sessions.check_csrf(
                request, session, str(form.get("csrf", ""))):
            raise Refused(403, "the form is stale or came from another site: reload the page")
        request["ui_session"], request["ui_session_new"] = session, False
        return form

    # ---- pages ----

    async def to_index(self, request: web.Request) -> web.StreamResponse:
        return _see_other("/ui/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if name not in STATIC:
            raise Refused(404, "no such file")
        return web.Response(body=(HERE / "static" / name).read_bytes(),
                            content_type=STATIC[name])

    async def repositories(self, request: web.Request) -> web.StreamResponse:
        principal = await self._principal(request)
        query, last = request.query.get("q", ""), request.query.get("last", "")
        names = await self.registry.call(self.store.repositories)
        visible = [n for n in names if await self._may(request, principal, n, "pull")]
        page, next_last = views.page_of(visible, query, last)
        rows = [await self.registry.call(views.repo_summary, self.store, n) for n in page]
        return await self._render(request, "repos.html", {
            "repositories": [vars(r) for r in rows], "q": query, "next": next_last,
            "total": len(visible)})

    async def repository(self, request: web.Request) -> web.StreamResponse:
        principal = await self._principal(request)
        name, page, ref = _split(request.match_info["tail"])
        await self._require(request, principal, name, "pull")
        may_delete = await self._may(request, principal, name, "delete")
        if page == "tags" and not ref:
            q, sort, kind = (request.query.get(k, "") for k in ("q", "sort", "kind"))
            start = request.query.get("start", "0")
            if not start.isdigit():
                raise Refused(400, "start must be a number")
            pulls = self.registry.settings.pulls
            times = await self.registry.call(pulls.of, name) if pulls else {}
            rows, next_start, total = await self.registry.call(
                views.tag_page, self.store, self.registry.policy, name, times, q, sort, kind,
                int(start))
            if not total and name not in await self.registry.call(self.store.repositories):
                raise Refused(404, f"no repository {name}")
            return await self._render(request, "tags.html", {
                "repository": name, "tags": [vars(r) for r in rows], "q": q, "sort": sort,
                "kind": kind, "may_delete": may_delete, "next": next_start, "total": total})
        if page == "m" and ref:
            view = await self.registry.call(views.manifest_view, self.store, name, ref)
            if view is None:
                raise Refused(404, f"no manifest {ref} in {name}")
            view["may_delete"] = may_delete
            view["pull"] = f"docker pull {request.host}/{name}@{view['digest']}"
            return await self._render(request, f"{view['kind']}.html", view)
        raise Refused(404, "no such page")

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """Delete a tag or a manifest through the API's own handler (rights, immutable tags,
        audit), from a form that carries the session's CSRF token."""
        form = await self._check_csrf(request)
        principal = await self._principal(request)
        name, page, _ = _split(request.match_info["tail"])
        ref = str(form.get("ref", ""))
        if page != "delete" or not ref:
            raise Refused(404, "no such action")
        await self._require(request, principal, name, "delete")
        await self.registry.manifest_delete(request, principal, name, ref)
        return _see_other(f"/ui/repos/{name}/-/tags")

    async def governance(self, request: web.Request) -> web.StreamResponse:
        principal = await self._principal(request)
        self._signed_in_or_open(principal)
        ctx = await self._governance(request, principal)
        del ctx["_report"]
        return await self._render(request, "governance.html", ctx)

    async def _governance(self, request, principal: Principal) -> dict:
        names = await self.registry.call(self.store.repositories)
        visible = {n for n in names if await self._may(request, principal, n, "pull")}
        deletable = {n for n in visible if await self._may(request, principal, n, "delete")}
        policy = self.registry.policy
        report = None
        if policy is not None and policy.retention:
            report = await self.registry.call(lambda: apply_retention(self.store, policy,
                                                                      dry_run=True))
        doomed_tags = [t for t in report.tags if t[0] in visible] if report else []
        doomed = [m for m in report.manifests if m[0] in visible] if report else []
        touched = {t[0] for t in report.tags} | {m[0] for m in report.manifests} if report \
            else set()
        admin = bool(names) and deletable == set(names)
        q = {k: request.query.get(k, "") for k in ("who", "action", "repo")}
        audit = []
        if self.registry.audit is not None:
            def visible_record(rec: dict) -> bool:
                repo = rec.get("repository", "")
                return repo in visible if repo else admin
            audit = await self.registry.call(lambda: views.audit_entries(
                self.registry.audit.path, visible_record, **q))
        namespaces = {n.split("/", 1)[0] for n in visible}
        quotas = await self.registry.call(views.quota_rows, self.store, policy, namespaces)
        return {"_report": report,
                "retention": {"tags": [{"repository": r, "tag": t, "digest": str(d)}
                                       for r, t, d in doomed_tags],
                              "manifests": [{"repository": r, "digest": str(d)}
                                            for r, d in doomed],
                              "rules": bool(policy and policy.retention),
                              "may_apply": bool(touched) and touched <= deletable},
                "quotas": quotas, "audit": audit, "filter": q}

    async def retention(self, request: web.Request) -> web.StreamResponse:
        """Apply exactly what the dry run shows, only when the principal may delete in every
        repository it touches."""
        await self._check_csrf(request)
        principal = await self._principal(request)
        self._signed_in_or_open(principal)
        ctx = await self._governance(request, principal)
        report = ctx["_report"]
        if report is None or not ctx["retention"]["may_apply"]:
            raise Refused(403, "applying retention needs delete rights in every repository "
                          "it touches")
        for repo, tag, digest in report.tags:
            await self.registry.call(self.store.delete_tag, repo, tag)
            self.registry._record(principal, request, "tag.delete", repo, tag=tag,
                                  digest=digest)
        for repo, digest in report.manifests:
            await self.registry.call(self.store.delete_manifest, repo, digest)
            self.registry._record(principal, request, "manifest.delete", repo, digest=digest)
        return _see_other("/ui/governance")

    async def health(self, request: web.Request) -> web.StreamResponse:
        principal = await self._principal(request)
        self._signed_in_or_open(principal)
        names = await self.registry.call(self.store.repositories)
        visible = {n for n in names if await self._may(request, principal, n, "pull")}
        audit_path = self.registry.audit.path if self.registry.audit else None
        ctx = await self.registry.call(views.health, self.store, audit_path,
                                       visible.__contains__)
        return await self._render(request, "health.html", ctx)

    # ---- login ----

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return await self._render(request, "login.html", {
            "next": safe_next(request.query.get("next")), "error": ""})

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await self._check_csrf(request)
        target = safe_next(str(form.get("next", "")))
        if not isinstance(self.access, Access):
            return _see_other(target)
        found = await self.access._basic(str(form.get("username", "")),
                                         str(form.get("password", "")))
        if found is None:
            return await self._render(request, "login.html", {
                "next": target, "error": "wrong user name or password"}, 401)
        resp = _see_other(target)
        self.sessions.write(resp, self.sessions.new(found.name, found.kind))  # a new sid
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        await self._check_csrf(request)
        resp = _see_other("/ui/")
        self.sessions.write(resp, self.sessions.new())
        return resp


def _see_other(location: str) -> web.Response:
    """A redirect returned, not raised (see the module docstring)."""
    return web.Response(status=303, headers={"Location": location})
