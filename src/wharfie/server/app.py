"""The distribution-spec v1.1 HTTP API on aiohttp.web.

aiohttp was chosen by measurement (bench/bench_registry_server.py): on this
machine it answers 26k small GETs/s against starlette+uvicorn's 18k, and it sends
files with sendfile at 1.8 GB/s against 0.54 GB/s. Filesystem blobs, Range included,
go out with sendfile from the file the handler opened (``_FileSlice``).

One catch-all route dispatches by regular expression, because repository
names contain slashes. Request bodies stream to a spool file while being
hashed, so uploads of many GB use flat memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from wharfie.errors import InvalidDigest
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Index, Manifest
from wharfie.oci.reference import TAG_RE, is_valid_repository_path
from wharfie.server.audit import AuditLog
from wharfie.server.auth import OpenAccess, Principal
from wharfie.server.errors import RegistryError
from wharfie.server.gc import manifest_children
from wharfie.server.policy import Policy
from wharfie.server.pulls import PullTimes
from wharfie.server.repositories import RegistryStore, StoredManifest
from wharfie.signing.required import check_served
from wharfie.signing.verify import SignatureRejected

log = logging.getLogger("wharfie.server")
CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20
NAME_MAX = 255

_ROUTES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]*)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), "referrers"),
]
_ACTION = {"GET": "pull", "HEAD": "pull", "POST": "push", "PUT": "push", "PATCH": "push",
           "DELETE": "delete"}


@dataclass
class Settings:
    max_manifest: int = MAX_MANIFEST
    policy: Policy | None = None  # immutable tags, quotas
    max_uploads_per_client: int = 64  # open upload sessions
    max_uploads_per_repository: int = 256
    foreign_urls: tuple[re.Pattern, ...] = ()  # layers with urls matching these may be absent
    # Told (repo, digest, parsed, raw) after each manifest PUT; must not block (scan on push).
    on_manifest: Callable[[str, Digest, Manifest | Index, bytes], None] | None = None
    pulls: PullTimes | None = None  # manifest GETs noted for the UI's "last pulled"


def _parse_digest(value: str | None) -> Digest:
    try:
        return Digest(value or "")
    except InvalidDigest as e:
        raise RegistryError("DIGEST_INVALID", "provided digest is invalid", str(e)) from None


def _check_reference(ref: str) -> None:
    """A manifest reference is a digest or a tag; anything else names nothing."""
    if ":" in ref:
        _parse_digest(ref)
    elif not TAG_RE.fullmatch(ref):
        raise RegistryError("MANIFEST_INVALID", "invalid tag", ref)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` (inclusive) as (start, end), or None when not satisfiable."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:
        n = int(m[2])
        return (max(0, size - n), size - 1) if n else None
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    return (start, end) if start <= end and start < size else None


def _matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match list names ``etag`` (or is ``*``); W/ is ignored, as the
    weak comparison RFC 9110 asks for here."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags


def _requested_range(request: web.Request, size: int, etag: str) -> tuple[int, int] | None:
    """The (start, end) a GET's Range asks for, or None for the whole blob: no Range, or an
    If-Range that is not this blob's ETag (RFC 9110 13.1.5). RegistryError 416 when the
    range cannot be satisfied."""
    header = request.headers.get("Range")
    if header is None or request.headers.get("If-Range", etag).strip() != etag:
        return None
    rng = _parse_range(header, size)
    if rng is None:
        raise RegistryError("BLOB_UNKNOWN", "range not satisfiable", status=416,
                            headers={"Content-Range": f"bytes */{size}"})
    return rng


class _FileSlice(web.StreamResponse):
    """``count`` bytes of an open file from ``offset``, sent with sendfile(2) straight from
    the page cache: no read into Python, no thread hop, no second stat (aiohttp's
    FileResponse stats and opens the path again in a thread, and replaces our ETag)."""

    def __init__(self, f, offset: int, count: int, status: int, headers: dict) -> None:
        super().__init__(status=status, headers=headers)
        self._file, self._offset, self._count = f, offset, count
        self.content_type = "application/octet-stream"
        self.content_length = count

    async def prepare(self, request: web.BaseRequest):
        if self.prepared:
            return await super().prepare(request)
        with self._file:
            writer = await super().prepare(request)
            if self._count:
                if request.transport is None:
                    raise ConnectionResetError("connection lost")
                # asyncio falls back to read+write where sendfile cannot go (TLS).
                await asyncio.get_running_loop().sendfile(
                    request.transport, self._file, self._offset, self._count)
            await super().write_eof()
            return writer


def _paginate(items: list[str], request: web.Request, path: str, key: str,
              name: str | None = None) -> web.Response:
    """``n``/``last`` pagination with a Link header to the next page."""
    last = request.query.get("last")
    if last:
        items = [x for x in items if x > last]
    n_raw = request.query.get("n")
    link = None
    if n_raw is not None:
        try:
            n = int(n_raw)
            if n < 0:
                raise ValueError
        except ValueError:
            raise RegistryError("UNSUPPORTED", "invalid n", n_raw, status=400) from None
        if len(items) > n:
            items = items[:n]
            if items:
                link = f'<{path}?{urlencode({"n": n, "last": items[-1]})}>; rel="next"'
    body: dict = {key: items} if name is None else {"name": name, key: items}
    resp = web.json_response(body)
    if link:
        resp.headers["Link"] = link
    return resp


class RegistryApp:
    """Handlers for one store; build the aiohttp application with ``web_app()``."""

    def __init__(self, store: RegistryStore, *, access: OpenAccess | None = None,
                 audit: AuditLog | None = None, settings: Settings | None = None) -> None:
        self.store = store
        self.access = access or OpenAccess()
        self.audit = audit
        self.settings = settings or Settings()
        self.policy = self.settings.policy

    async def call(self, fn: Callable, *args):
        """Run a store call; in a thread when the driver waits on the network."""
        if self.store.driver.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    # ---- plumbing ----

    def web_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=MAX_MANIFEST)
        app.router.add_route("*", "/v2/{tail:.*}", self.dispatch)
        app.router.add_route("*", "/v2", self.dispatch)
        app.router.add_route("GET", "/token", self.token)
        app.router.add_route("POST", "/token", self.token)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except RegistryError as e:
            resp = web.Response(status=e.status, body=e.body(), content_type="application/json",
                                headers=e.headers)
        except web.HTTPException as e:
            code = "NAME_UNKNOWN" if e.status == 404 else "UNSUPPORTED"
            err = RegistryError(code, e.reason, status=e.status)
            resp = web.Response(status=e.status, body=err.body(), content_type="application/json")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a bug or a storage failure: log it, answer in the spec's shape
            log.exception("%s %s failed", request.method, request.path)
            err = RegistryError("UNKNOWN", "internal server error", type(e).__name__, status=500)
            resp = web.Response(status=500, body=err.body(), content_type="application/json")
        resp.headers["Docker-Distribution-API-Version"] = "registry/2.0"
        return resp

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if tail == "":
            principal = await self.access.authenticate(request)
            self.access.require_login(request, principal)
            return web.json_response({})
        if tail == "_catalog":
            return await self.catalog(request)
        for regex, kind in _ROUTES:
            m = regex.match(tail)
            if m:
                return await self._route(request, kind, m)
        raise RegistryError("NAME_UNKNOWN", "no such endpoint", tail, status=404)

    async def _route(self, request: web.Request, kind: str, m: re.Match) -> web.StreamResponse:
        name = m["name"]
        if len(name) > NAME_MAX or not is_valid_repository_path(name):
            raise RegistryError("NAME_INVALID", "invalid repository name", name)
        action = _ACTION.get(request.method)
        handler: Callable[..., Awaitable[web.StreamResponse]] | None = getattr(
            self, f"{kind}_{request.method.lower()}", None)
        if action is None or handler is None:
            raise RegistryError("UNSUPPORTED", "method not allowed", request.method, status=405)
        principal = await self.access.authorize(request, name, action)
        return await handler(request, principal, **m.groupdict())

    def _record(self, principal: Principal, request: web.Request, action: str, repo: str,
                **what) -> None:
        if self.audit is not None:
            self.audit.record(principal.name, action, repo, remote=request.remote, **what)

    async def _spool(self, request: web.Request, hasher) -> tuple[Path, int]:
        """Stream the request body to a local temp file, hashing on the way."""
        path = self.store.driver.spool_dir() / f"up-{os.getpid()}-{os.urandom(8).hex()}"
        size = 0
        with open(path, "wb") as f:
            try:
                async for chunk in request.content.iter_any():
                    f.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    size += len(chunk)
            except BaseException:
                f.close()
                path.unlink(missing_ok=True)
                raise
        return path, size

    # ---- token service ----

    async def token(self, request: web.Request) -> web.StreamResponse:
        return await self.access.token_endpoint(request)

    # ---- blobs ----

    async def blob_head(self, request, principal, name, digest) -> web.StreamResponse:
        return await self.blob_get(request, principal, name, digest, head=True)

    async def blob_get(self, request, principal, name, digest, head=False):
        d = _parse_digest(digest)
        size = await self.call(self.store.blob_check if head else self.store.blob_stat, name, d)
        if size is None:
            raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": d})
        etag = f'"{d}"'
        headers = {"Docker-Content-Digest": d, "Accept-Ranges": "bytes",
                   "ETag": etag, "Cache-Control": "max-age=31536000"}
        if head:
            headers["Content-Length"] = str(size)
            return web.Response(headers=headers, content_type="application/octet-stream")
        if _matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        key = f"blobs/{d.algorithm}/{d.hex}"
        url = self.store.driver.redirect_url(key)
        if url is not None:
            headers["Location"] = url
            return web.Response(status=307, headers=headers)
        start, end, status = 0, size - 1, 200
        rng = _requested_range(request, size, etag)
        if rng is not None:
            start, end, status = rng[0], rng[1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        path = self.store.driver.local_path(key)
        if path is not None:
            try:
                blob = open(path, "rb", buffering=0)  # noqa: SIM115 - the response closes it
            except FileNotFoundError:  # collected since the stat
                raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry",
                                    {"digest": d}) from None
            return _FileSlice(blob, start, end - start + 1, status, headers)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_type = "application/octet-stream"
        resp.content_length = end - start + 1
        await resp.prepare(request)
        reader = await self.call(self.store.open_blob, d, start, end - start + 1)
        try:
            while chunk := await asyncio.to_thread(reader.read, CHUNK):
                await resp.write(chunk)
        finally:
            reader.close()
        await resp.write_eof()
        return resp

    async def blob_delete(self, request, principal, name, digest):
        d = _parse_digest(digest)
        await self.call(self._check_blob_deletable, name, d)
        if not await self.call(self.store.unlink_blob, name, d):
            raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": d})
        self._record(principal, request, "blob.delete", name, digest=d)
        return web.Response(status=202, headers={"Content-Length": "0"})

    def _check_blob_deletable(self, name: str, d: Digest) -> None:
        """A blob that an image under an immutable tag needs stays: deleting it would break
        the image the rule promises."""
        if self.policy is None:
            return
        for tag in self.store.tags(name):
            if self.policy.tag_is_immutable(name, tag) and d in self._needed_by(
                    self.store.tag_digest(name, tag)):
                raise RegistryError("DENIED", "blob is part of an image under an immutable "
                                    "tag", {"digest": d, "tag": tag})

    def _needed_by(self, root: Digest | None) -> set[Digest]:
        """Every manifest and blob an image needs: the root, an index's children, blobs."""
        needed: set[Digest] = set()
        todo = [root] if root else []
        while todo:
            m = todo.pop()
            if m in needed:
                continue
            needed.add(m)
            raw = self.store.manifest_bytes(m)
            if raw:
                manifests, blobs = manifest_children(raw)
                needed.update(blobs)
                todo += manifests
        return needed

    # ---- uploads ----

    def _upload_headers(self, name: str, upload_id: str, size: int) -> dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{upload_id}",
                "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": upload_id,
                "Blob-Upload-Session-ID": upload_id,
                "Content-Length": "0"}

    async def _blob_created(self, request, principal, name, d: Digest, size: int, how: str):
        self._record(principal, request, f"blob.{how}", name, digest=d, size=size)
        return web.Response(status=201, headers={
            "Location": f"/v2/{name}/blobs/{d}", "Docker-Content-Digest": d,
            "Content-Length": "0"})

    async def upload_post(self, request, principal, name, uuid):
        if uuid:
            raise RegistryError("UNSUPPORTED", "POST to an upload session", status=405)
        q = request.query
        if "mount" in q:
            d = _parse_digest(q["mount"])
            source = q.get("from", "")
            if source and is_valid_repository_path(source) and await self.access.may(
                    request, principal, source, "pull"):
                size = await self.call(self._mount, source, name, d)
                if size is not None:
                    return await self._blob_created(request, principal, name, d, size, "mount")
        await self.call(self._check_session_limits, name, self._client(request, principal))
        upload_id = await self.call(self.store.start_upload, name,
                                    self._client(request, principal))
        if "digest" in q:
            d = _parse_digest(q["digest"])
            return await self._finish(request, principal, name, upload_id, d)
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, 0))

    def _mount(self, source: str, name: str, d: Digest) -> int | None:
        """Link ``source``'s blob into ``name`` (quota permitting); None if it has none."""
        size = self.store.blob_stat(source, d)
        if size is not None:
            with self.store.namespace_lock(name):
                if self.policy is not None and self.store.link_age(name, d) is None:
                    self.policy.check_quota(self.store, name, size)
                self.store.link_blob(name, d)
        return size

    @staticmethod
    def _client(request: web.Request, principal: Principal) -> str:
        return principal.name if principal.kind != "anonymous" else f"@{request.remote}"

    def _check_session_limits(self, name: str, client: str) -> None:
        """Open upload sessions hold storage for a day: cap them per client and repository."""
        per_client = per_repo = 0
        for _, info in self.store.open_uploads():
            per_client += info.get("client") == client
            per_repo += info["repo"] == name
        if (per_client >= self.settings.max_uploads_per_client
                or per_repo >= self.settings.max_uploads_per_repository):
            raise RegistryError("TOOMANYREQUESTS", "too many open upload sessions",
                                {"client": per_client, "repository": per_repo})

    async def upload_get(self, request, principal, name, uuid):
        await self.call(self.store.upload_info, name, uuid)
        size = await self.call(self.store.upload_size, uuid)
        return web.Response(status=204, headers=self._upload_headers(name, uuid, size))

    async def upload_delete(self, request, principal, name, uuid):
        await self.call(self.store.upload_info, name, uuid)
        await self.call(self.store.cancel_upload, uuid)
        return web.Response(status=204, headers={"Content-Length": "0"})

    async def _append(self, request, name: str, upload_id: str, check_range: bool) -> int:
        size = await self.call(self.store.upload_size, upload_id)
        expect = None
        crange = request.headers.get("Content-Range")
        if check_range and crange:
            m = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?", crange.strip())
            start, end = (int(m[1]), int(m[2])) if m else (-1, -1)
            if start != size or end < start:
                raise RegistryError(
                    "BLOB_UPLOAD_INVALID", "chunk out of order", {"expected_offset": size},
                    status=416, headers=self._upload_headers(name, upload_id, size))
            expect = end - start + 1
        hasher = self.store.running_hash(upload_id, size)
        path, n = await self._spool(request, hasher)
        if expect is not None and n != expect:
            path.unlink(missing_ok=True)
            raise RegistryError("BLOB_UPLOAD_INVALID", "chunk size does not match Content-Range",
                                {"expected": expect, "received": n})
        return await self.call(self._add_part, name, upload_id, size, path, hasher, n)

    def _add_part(self, name: str, upload_id: str, offset: int, path: Path, hasher,
                  n: int) -> int:
        """Keep a chunk; unfinished uploads count against the quota too."""
        if self.policy is None or not self.policy.has_quota(name):
            return self.store.add_part(upload_id, offset, path, hasher, n)
        with self.store.namespace_lock(name):
            try:
                self.policy.check_quota(self.store, name, n)
            except RegistryError:
                path.unlink(missing_ok=True)
                raise
            return self.store.add_part(upload_id, offset, path, hasher, n)

    async def upload_patch(self, request, principal, name, uuid):
        await self.call(self.store.upload_info, name, uuid)
        size = await self._append(request, name, uuid, check_range=True)
        return web.Response(status=202, headers=self._upload_headers(name, uuid, size))

    async def upload_put(self, request, principal, name, uuid):
        await self.call(self.store.upload_info, name, uuid)
        d = _parse_digest(request.query.get("digest"))
        return await self._finish(request, principal, name, uuid, d)

    async def _finish(self, request, principal, name, upload_id, d: Digest):
        """Append the request body, check the quota, verify and publish the blob."""
        try:
            await self._append(request, name, upload_id, check_range=False)
        except BaseException:
            await self.call(self.store.cancel_upload, upload_id)
            raise
        try:
            size = await self.call(self.store.finish_upload, name, upload_id, d,
                                   self._admit(name, upload_id, d))
        except RegistryError:
            await self.call(self.store.cancel_upload, upload_id)
            raise
        return await self._blob_created(request, principal, name, d, size, "push")

    def _admit(self, name: str, upload_id: str, d: Digest) -> Callable[[int], None] | None:
        """The quota check ``finish_upload`` makes under the namespace lock."""
        policy = self.policy
        if policy is None or not policy.has_quota(name):
            return None

        def admit(size: int) -> None:
            if self.store.link_age(name, d) is None:
                policy.check_quota(self.store, name, size, upload=upload_id)
        return admit

    # ---- manifests ----

    async def manifest_head(self, request, principal, name, ref):
        return await self.manifest_get(request, principal, name, ref, head=True)

    async def manifest_get(self, request, principal, name, ref, head=False):
        _check_reference(ref)
        m = await self.call(self.store.get_manifest, name, ref)
        if m is None:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry",
                                {"name": name, "reference": ref})
        accept = ",".join(request.headers.getall("Accept", []))
        if accept and ":" not in ref:
            types = {a.split(";")[0].strip() for a in accept.split(",")}
            if types & mt.ALL_MANIFESTS and m.media_type not in types and "*/*" not in types:
                raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry",
                                    {"reason": f"stored as {m.media_type}, not accepted"})
        if self.policy is not None and self.policy.signatures:
            await self.call(self._check_signed, request.host, name, ref, m)
        headers = {"Docker-Content-Digest": m.digest, "ETag": f'"{m.digest}"'}
        if head:
            headers["Content-Length"] = str(len(m.raw))
            return web.Response(headers=headers, content_type=m.media_type)
        if self.settings.pulls is not None:
            self.settings.pulls.note(name, m.digest)
        return web.Response(body=m.raw, headers=headers, content_type=m.media_type)

    def _check_signed(self, host: str, name: str, ref: str, m: StoredManifest) -> None:
        """The policy's ``require_signatures``: refuse an image without a good signature."""
        assert self.policy is not None
        try:
            check_served(self.policy.signatures, self.store, host, name, ref, m.digest, m.raw,
                         m.media_type)
        except SignatureRejected as e:
            raise RegistryError("DENIED", f"signature required: {e.message}",
                                {"name": name, "reference": ref, "reason": e.reason}) from None

    async def manifest_put(self, request, principal, name, ref):
        _check_reference(ref)
        is_digest = ":" in ref
        limit = self.settings.max_manifest
        if (request.content_length or 0) > limit:
            raise RegistryError("SIZE_INVALID", "manifest too large", {"limit": limit},
                                status=413)
        buf = bytearray()
        async for chunk in request.content.iter_any():
            buf += chunk
            if len(buf) > limit:
                break
        raw = bytes(buf)
        if len(raw) > limit:
            raise RegistryError("SIZE_INVALID", "manifest too large", {"limit": limit},
                                status=413)
        media_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if is_digest:
            want = _parse_digest(ref)
            if Digest.of(raw, want.algorithm) != want:
                raise RegistryError("DIGEST_INVALID", "manifest digest does not match", ref)
        tag = None if is_digest else ref
        doc, media_type, digest = await self.call(self._store_manifest, name, raw, media_type,
                                                  tag)
        self._record(principal, request, "manifest.push", name, digest=digest, tag=tag,
                     media_type=media_type)
        if self.settings.on_manifest is not None:
            self.settings.on_manifest(name, digest, doc, raw)
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest,
                   "Content-Length": "0"}
        if doc.subject is not None:
            headers["OCI-Subject"] = doc.subject.digest
        return web.Response(status=201, headers=headers)

    def _store_manifest(self, name: str, raw: bytes, media_type: str, tag: str | None):
        """Check, apply the immutable-tag rule and the quota, and write, all under the
        namespace lock: of two racing pushes to a new immutable tag, one wins."""
        with self.store.namespace_lock(name):
            doc = self.store.check_manifest(name, raw, media_type, self.settings.foreign_urls)
            media_type = media_type or json.loads(raw).get("mediaType") or mt.OCI_MANIFEST
            digest = Digest.of(raw)
            if self.policy is not None:
                if tag is not None:
                    current = self.store.tag_digest(name, tag)
                    if current is not None and current != digest:
                        self.policy.check_tag_mutable(name, tag)
                if self.store.link_age(name, digest) is None:
                    self.policy.check_quota(self.store, name, len(raw))
            return doc, media_type, self.store.put_manifest(name, raw, media_type, doc, tag)

    async def manifest_delete(self, request, principal, name, ref):
        _check_reference(ref)
        if ":" in ref:
            d = _parse_digest(ref)
            if self.policy is not None:
                for tag in await self.call(self.store.tags, name):
                    if await self.call(self.store.tag_digest, name, tag) == d:
                        self.policy.check_tag_mutable(name, tag)
            ok = await self.call(self.store.delete_manifest, name, d)
            what = {"digest": d}
        else:
            if self.policy is not None:
                self.policy.check_tag_mutable(name, ref)
            d = await self.call(self.store.tag_digest, name, ref)
            ok = await self.call(self.store.delete_tag, name, ref)
            what = {"tag": ref, "digest": d}
        if not ok:
            raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown to registry",
                                {"name": name, "reference": ref})
        self._record(principal, request, "manifest.delete", name, **what)
        return web.Response(status=202, headers={"Content-Length": "0"})

    # ---- discovery ----

    async def tags_get(self, request, principal, name):
        tags = await self.call(self.store.tags, name)
        if not tags and name not in await self.call(self.store.repositories):
            raise RegistryError("NAME_UNKNOWN", "repository name not known to registry",
                                {"name": name})
        return _paginate(tags, request, f"/v2/{name}/tags/list", "tags", name)

    async def referrers_get(self, request, principal, name, digest):
        d = _parse_digest(digest)
        items = await self.call(self.store.referrers, name, d)
        headers = {}
        wanted = request.query.get("artifactType")
        if wanted:
            items = [x for x in items if x.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        items.sort(key=lambda x: x["digest"])
        body = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": items}
        return web.Response(body=json.dumps(body).encode(), headers=headers,
                            content_type=mt.OCI_INDEX)

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise RegistryError("UNSUPPORTED", "method not allowed", request.method, status=405)
        principal = await self.access.authenticate(request)
        self.access.require_login(request, principal, scope="registry:catalog:*")
        repos = await self.call(self.store.repositories)
        visible = [r for r in repos if self.access.allowed(principal, r, "pull")]
        return _paginate(visible, request, "/v2/_catalog", "repositories")
