"""What a registry stores, over any driver: blobs, per-repository links, manifests, tags,
referrers, the catalog and upload sessions.

Key layout (all objects are small, except blobs and upload parts)::

    blobs/<alg>/<hex>                                  content, shared by every repository
    repositories/<repo>/_layers/<alg>/<hex>            blob is reachable in <repo> (empty)
    repositories/<repo>/_manifests/revisions/<alg>/<hex>   manifest in <repo> (its media type)
    repositories/<repo>/_manifests/tags/<tag>          a tag (the manifest digest)
    repositories/<repo>/_referrers/<alg>/<subject hex>/<alg>-<hex>  a referrer's descriptor
    repositories/<repo>/_index                         its tags and manifests (JSON)
    repositories/<repo>/_pulls                         when each manifest was last pulled
    repositories.json                                  every repository ever written to
    catalog/<repo with / as +>                         the repository exists (empty)
    uploads/<id>/info, uploads/<id>/parts/<offset>     an upload session (with its parts)
                                                       and its data

Object listings may lag on eventually consistent stores (Swift), so what must be complete
is also recorded in objects read by key: a repository's ``_index`` (written under its
namespace lock with every tag and manifest change), ``repositories.json`` and each upload
session's ``info`` (its parts).

Blobs are deduplicated across repositories; a repository sees a blob only through its
link, so access control per repository holds for blobs too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from wharfie.errors import InvalidInput
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Index, Manifest, parse_manifest_or_index
from wharfie.server.errors import RegistryError
from wharfie.server.storage import Driver

CHUNK = 1 << 20
UPLOAD_TTL = 24 * 3600.0
# Links a manifest push names are touched at most this often; GC's grace must be longer.
TOUCH_AFTER = 60.0
PARKED_WAIT = 30.0  # how long a manifest push waits for a GC's verdict on a parked blob


def blob_key(digest: str) -> str:
    d = Digest(digest)
    return f"blobs/{d.algorithm}/{d.hex}"


def repo_key(repo: str) -> str:
    return f"repositories/{repo}"


def _layer_key(repo: str, digest: str) -> str:
    d = Digest(digest)
    return f"{repo_key(repo)}/_layers/{d.algorithm}/{d.hex}"


def _revision_key(repo: str, digest: str) -> str:
    d = Digest(digest)
    return f"{repo_key(repo)}/_manifests/revisions/{d.algorithm}/{d.hex}"


def _tag_key(repo: str, tag: str) -> str:
    return f"{repo_key(repo)}/_manifests/tags/{tag}"


def parked_key(digest: str) -> str:
    """Where GC moves a blob while it decides whether to delete it."""
    d = Digest(digest)
    return f"gc-parked/{d.algorithm}/{d.hex}"


def _index_key(repo: str) -> str:
    return f"{repo_key(repo)}/_index"


REPOSITORY_LIST = "repositories.json"


def _part_key(upload_id: str, offset: int) -> str:
    return f"uploads/{upload_id}/parts/{offset:016d}"


def _referrers_prefix(repo: str, subject: str) -> str:
    d = Digest(subject)
    return f"{repo_key(repo)}/_referrers/{d.algorithm}/{d.hex}"


@dataclass
class RepoIndex:
    """A repository's tags (tag -> manifest digest) and manifests, as one object."""

    tags: dict[str, str]
    manifests: set[str]

    def encode(self) -> bytes:
        return json.dumps({"tags": dict(sorted(self.tags.items())),
                           "manifests": sorted(self.manifests)}).encode()


@dataclass
class StoredManifest:
    digest: Digest
    media_type: str
    raw: bytes


def _allowed_url(url: str, allow: Sequence[re.Pattern]) -> bool:
    """As distribution's ``validation.manifests.urls.allow``: http(s), no fragment, and
    matching one pattern; with no patterns, no foreign URL at all."""
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and not parts.fragment
            and any(p.search(url) for p in allow))


def _check_size(desc, size: int | None, what: str) -> None:
    if size is None:
        raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"{what} unknown to registry",
                            {"digest": desc.digest})
    if size != desc.size:
        raise RegistryError("MANIFEST_INVALID", f"{what} size does not match its descriptor",
                            {"digest": desc.digest, "size": desc.size, "stored": size})


class _Concat:
    """Reads several driver objects one after another, as one stream."""

    def __init__(self, driver: Driver, keys: list[str]) -> None:
        self._driver, self._keys, self._cur = driver, list(keys), None

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all with -1), crossing object boundaries like one file."""
        out = bytearray()
        while n < 0 or len(out) < n:
            if self._cur is None:
                if not self._keys:
                    break
                self._cur = self._driver.open(self._keys.pop(0))
            data = self._cur.read(-1 if n < 0 else n - len(out))
            if data:
                out += data
            else:
                self._cur.close()
                self._cur = None
        return bytes(out)

    def close(self) -> None:
        if self._cur is not None:
            self._cur.close()


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, inner, algorithm: str) -> None:
        self.inner, self.hash, self.size = inner, hashlib.new(algorithm), 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data


class RegistryStore:
    """Registry semantics over a driver. Every method is synchronous; the server decides
    whether to call it in a thread (``driver.blocking``)."""

    def __init__(self, driver: Driver, *, upload_ttl: float = UPLOAD_TTL,
                 manifest_cache_bytes: int = 64 << 20) -> None:
        self.driver = driver
        self.upload_ttl = upload_ttl
        # Manifests by digest (immutable, so never stale), least recently used out first.
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_max = manifest_cache_bytes
        self._cache_lock = threading.Lock()
        # upload id -> (hash, bytes hashed): saves re-reading data at commit when every
        # chunk of the session went through this process.
        self._hashers: dict[str, tuple[object, int]] = {}
        self._registered: set[str] = set()  # in REPOSITORY_LIST, as this process knows

    # ---- blobs ----

    def blob_stat(self, repo: str, digest: str, *, refresh: bool = False) -> int | None:
        """The blob's size if ``repo`` can see it, else None. Reads only: pulls write
        nothing. ``refresh`` (a manifest push naming the blob) touches the link, a small
        object, at most every TOUCH_AFTER seconds, before looking at the blob, so a GC
        sweeping it meanwhile sees it in use (gc.py); the blob itself keeps its upload
        time."""
        link = self.driver.stat(_layer_key(repo, digest))
        if link is None:
            return None
        if refresh and time.time() - link.mtime > TOUCH_AFTER:
            self.driver.touch(_layer_key(repo, digest))
        st = self.driver.stat(blob_key(digest))
        if st is None and refresh:
            st = self._after_gc_verdict(digest)
        return st.size if st else None

    def blob_check(self, repo: str, digest: str) -> int | None:
        """A blob HEAD: the client is about to push a manifest naming the blob, or skip
        uploading it, so its link is refreshed as for a manifest push (GETs write nothing)."""
        return self.blob_stat(repo, digest, refresh=True)

    def _after_gc_verdict(self, digest: str):
        """A GC may have just moved the blob aside; it puts it back when it sees the link
        touched. Wait (seconds at most) for its verdict, then look again."""
        deadline = time.monotonic() + PARKED_WAIT
        while self.driver.stat(parked_key(digest)) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.driver.stat(blob_key(digest))

    def link_blob(self, repo: str, digest: str) -> None:
        """Make a blob visible in ``repo``. The fresh link restarts its GC grace (a mount or
        a re-upload of an old blob will be referenced soon); the blob is not rewritten."""
        self.register_repository(repo)
        self.driver.write(_layer_key(repo, digest), b"")

    def register_repository(self, repo: str) -> None:
        """Add ``repo`` to REPOSITORY_LIST (once), so GC finds it without a listing."""
        if repo in self._registered:
            return
        if repo not in self.known_repositories():
            with self.driver.lock("repositories"):
                names = self.known_repositories()
                if repo not in names:
                    self.driver.write(REPOSITORY_LIST, json.dumps(sorted({*names, repo})).encode())
        self._registered.add(repo)

    def known_repositories(self) -> list[str]:
        """REPOSITORY_LIST, read by key."""
        raw = self.driver.read(REPOSITORY_LIST)
        return json.loads(raw) if raw else []

    def namespace_lock(self, repo: str):
        """One writer at a time per namespace, across processes: checks (immutable tags,
        quotas, GC's last look) and the writes they allow happen as one step."""
        return self.driver.lock("ns-" + repo.split("/", 1)[0])

    def link_age(self, repo: str, digest: str) -> float | None:
        st = self.driver.stat(_layer_key(repo, digest))
        return time.time() - st.mtime if st else None

    def blob_linked_within(self, digest: str, seconds: float) -> bool:
        """Whether any repository linked or touched the blob in the last ``seconds``."""
        for repo in self.every_repository():
            age = self.link_age(repo, digest)
            if age is not None and age < seconds:
                return True
        return False

    def unlink_blob(self, repo: str, digest: str) -> bool:
        return self.driver.delete(_layer_key(repo, digest))

    def blob_size_global(self, digest: str) -> int | None:
        st = self.driver.stat(blob_key(digest))
        return st.size if st else None

    def open_blob(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self.driver.open(blob_key(digest), offset, length)

    # ---- upload sessions ----

    def start_upload(self, repo: str, client: str = "") -> str:
        upload_id = secrets.token_hex(16)
        info = {"repo": repo, "started": time.time(), "client": client}
        self.driver.write(f"uploads/{upload_id}/info", json.dumps(info).encode())
        return upload_id

    def open_uploads(self) -> Iterator[tuple[str, dict]]:
        """(id, info) of every unexpired upload session."""
        now = time.time()
        for upload_id in self.upload_ids():
            raw = self.driver.read(f"uploads/{upload_id}/info")
            info = json.loads(raw) if raw else None
            if info and now - info["started"] <= self.upload_ttl:
                yield upload_id, info

    def upload_bytes(self, ns: str, skip: str | None = None) -> int:
        """Data held by the namespace's unfinished uploads (quotas count it)."""
        return sum(self.upload_size(upload_id) for upload_id, info in self.open_uploads()
                   if upload_id != skip and info["repo"].split("/", 1)[0] == ns)

    def upload_info(self, repo: str, upload_id: str) -> dict:
        """The session's info, or BLOB_UPLOAD_UNKNOWN if it never existed, expired or is
        another repository's."""
        if not upload_id.isalnum() or len(upload_id) > 64:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        raw = self.driver.read(f"uploads/{upload_id}/info")
        info = json.loads(raw) if raw else None
        if not info or info["repo"] != repo:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
                                {"uuid": upload_id})
        if time.time() - info["started"] > self.upload_ttl:
            self.cancel_upload(upload_id)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload expired", {"uuid": upload_id})
        return info

    def _parts(self, upload_id: str) -> list[tuple[int, str, int]]:
        """(offset, key, size) of each part, in order, as the session's info records them:
        a listing of the parts may lag behind the last one (Swift)."""
        raw = self.driver.read(f"uploads/{upload_id}/info")
        parts = json.loads(raw).get("parts", []) if raw else []
        return [(offset, _part_key(upload_id, offset), size) for offset, size in parts]

    def upload_size(self, upload_id: str) -> int:
        parts = self._parts(upload_id)
        return parts[-1][0] + parts[-1][2] if parts else 0

    def add_part(self, upload_id: str, offset: int, path: Path, hasher, size: int) -> int:
        """Publish a spooled chunk written at ``offset``; ``hasher`` hashed exactly its bytes
        when it continues this process's running hash. Returns the new upload size."""
        if size:
            self.driver.put_file(_part_key(upload_id, offset), path)
            self._record_part(upload_id, offset, size)
        else:
            path.unlink(missing_ok=True)
        if hasher is not None:
            self._hashers[upload_id] = (hasher, offset + size)
        else:
            self._hashers.pop(upload_id, None)
        return offset + size

    def _record_part(self, upload_id: str, offset: int, size: int) -> None:
        """Note the part in the session's info; one written again at ``offset`` replaces
        it and anything after it (a client retrying a chunk)."""
        key = f"uploads/{upload_id}/info"
        raw = self.driver.read(key)
        if raw is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
                                {"uuid": upload_id})
        info = json.loads(raw)
        info["parts"] = [p for p in info.get("parts", []) if p[0] < offset] + [[offset, size]]
        self.driver.write(key, json.dumps(info).encode())

    def running_hash(self, upload_id: str, offset: int):
        """A copy of this process's hash of the first ``offset`` bytes, if it has one."""
        state = self._hashers.get(upload_id)
        if state and state[1] == offset:
            return state[0].copy()  # type: ignore[attr-defined]
        if offset == 0:
            return hashlib.sha256()
        return None

    def finish_upload(self, repo: str, upload_id: str, digest: Digest,
                      admit: Callable[[int], None] | None = None) -> int:
        """Verify the session's data against ``digest``, link it to ``repo`` (after
        ``admit(size)`` agrees, under the namespace lock), publish the blob. Returns the
        size."""
        parts = self._parts(upload_id)
        size = parts[-1][0] + parts[-1][2] if parts else 0
        state = self._hashers.pop(upload_id, None)
        known = None
        if state and state[1] == size and digest.algorithm == "sha256":
            known = Digest.from_hasher(state[0])
        elif not parts and digest.algorithm == "sha256":
            known = Digest.of(b"")
        if known is None:
            reader = _Hashing(_Concat(self.driver, [k for _, k, _ in parts]), digest.algorithm)
            while reader.read(CHUNK):
                pass
            known = Digest.from_hasher(reader.hash)
        if known != digest:
            self.cancel_upload(upload_id)
            raise RegistryError("DIGEST_INVALID", "provided digest did not match uploaded content",
                                {"expected": digest, "actual": known})
        with self.namespace_lock(repo):
            if admit is not None:
                admit(size)
            # The link first: it restarts GC's grace before we rely on an existing copy.
            self.link_blob(repo, digest)
        key = blob_key(digest)
        if self.driver.stat(key) is not None:
            pass
        elif len(parts) == 1:
            self.driver.move(parts[0][1], key)
        else:
            stream = _Concat(self.driver, [k for _, k, _ in parts])
            try:
                self.driver.write_from(key, stream)
            finally:
                stream.close()
        self.cancel_upload(upload_id)
        return size

    def cancel_upload(self, upload_id: str) -> None:
        """Delete the session: its recorded parts and its info by key (a listing may miss
        the newest objects, on Swift even the info of a session a second old), then
        whatever a listing shows. The info goes after the parts: it is their record."""
        self._hashers.pop(upload_id, None)
        for _, key, _ in self._parts(upload_id):
            self.driver.delete(key)
        self.driver.delete(f"uploads/{upload_id}/info")
        self.driver.delete_tree(f"uploads/{upload_id}")

    def upload_ids(self) -> list[str]:
        return self.driver.list("uploads")

    def purge_expired_uploads(self, now: float | None = None) -> int:
        """Remove sessions older than the TTL (and orphaned part sets). Returns how many."""
        now = now or time.time()
        removed = 0
        ids = self.upload_ids()
        for upload_id in set(self._hashers) - set(ids):  # finished or purged elsewhere
            self._hashers.pop(upload_id, None)
        for upload_id in ids:
            raw = self.driver.read(f"uploads/{upload_id}/info")
            if raw:
                started = json.loads(raw)["started"]
            else:  # its info not written yet (a session starting now) or lost: the parts' age
                times = [st.mtime for _, st in self.driver.walk(f"uploads/{upload_id}")]
                if not times:
                    continue  # nothing stored: a session being made, never an orphan
                started = max(times)
            if now - started > self.upload_ttl:
                self.cancel_upload(upload_id)
                removed += 1
        # Spool files a crashed server process left behind (live ones are written to).
        for entry in os.scandir(self.driver.spool_dir()):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and now - entry.stat().st_mtime > self.upload_ttl:
                    os.unlink(entry.path)
        return removed

    # ---- manifests ----

    def _manifest_bytes(self, digest: str) -> bytes | None:
        with self._cache_lock:
            raw = self._cache.get(digest)
            if raw is not None:
                self._cache.move_to_end(digest)
                return raw
        raw = self.driver.read(blob_key(digest))
        if raw is not None and len(raw) <= self._cache_max // 16:
            with self._cache_lock:
                if digest not in self._cache:
                    self._cache[digest] = raw
                    self._cache_bytes += len(raw)
                while self._cache_bytes > self._cache_max:
                    self._cache_bytes -= len(self._cache.popitem(last=False)[1])
        return raw

    def resolve(self, repo: str, reference: str) -> Digest | None:
        """The digest a tag or digest reference names in ``repo``, if the manifest is there."""
        if ":" in reference:
            return Digest(reference) if self.driver.stat(_revision_key(repo, reference)) else None
        raw = self.driver.read(_tag_key(repo, reference))
        return Digest(raw.decode()) if raw else None

    def get_manifest(self, repo: str, reference: str) -> StoredManifest | None:
        digest = self.resolve(repo, reference)
        if digest is None:
            return None
        media = self.driver.read(_revision_key(repo, digest))
        raw = self._manifest_bytes(digest)
        if media is None or raw is None:
            return None
        return StoredManifest(digest, media.decode() or mt.OCI_MANIFEST, raw)

    def check_manifest(self, repo: str, raw: bytes, media_type: str,
                       foreign_urls: Sequence[re.Pattern] = ()) -> Manifest | Index:
        """Parse a pushed manifest and check that everything it references is in ``repo``,
        with the size it claims. Only a layer whose every URL matches ``foreign_urls`` may
        be absent; the config never."""
        try:
            doc = parse_manifest_or_index(raw, media_type or None)
        except (InvalidInput, ValueError, RecursionError) as e:
            raise RegistryError("MANIFEST_INVALID", "manifest invalid",
                                str(e) or type(e).__name__) from None
        body_type = json.loads(raw).get("mediaType")
        if body_type and media_type and body_type != media_type:
            raise RegistryError("MANIFEST_INVALID", "manifest invalid",
                                f"mediaType {body_type} does not match Content-Type {media_type}")
        if isinstance(doc, Manifest):
            if doc.config.urls:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", "a config cannot have urls",
                                    {"digest": doc.config.digest})
            for desc in (doc.config, *doc.layers):
                if desc.urls:
                    if not all(_allowed_url(u, foreign_urls) for u in desc.urls):
                        raise RegistryError("MANIFEST_BLOB_UNKNOWN", "foreign url not allowed",
                                            {"digest": desc.digest, "urls": list(desc.urls)})
                    continue
                _check_size(desc, self.blob_stat(repo, desc.digest, refresh=True), "blob")
        else:
            for desc in doc.manifests:
                if self.driver.stat(_revision_key(repo, desc.digest)) is None:
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", "manifest unknown to registry",
                                        {"digest": desc.digest})
                _check_size(desc, self.blob_size_global(desc.digest), "manifest")
                # Fresh again: a GC that found the child untagged must now keep it.
                self.driver.touch(_revision_key(repo, desc.digest))
        return doc

    def repo_index(self, repo: str) -> RepoIndex:
        """The repository's tags and manifests, read by key. A repository written before
        indexes existed gets one built from listings."""
        raw = self.driver.read(_index_key(repo))
        if raw is not None:
            doc = json.loads(raw)
            return RepoIndex(doc["tags"], set(doc["manifests"]))
        tags = {}
        for name in self.driver.list(f"{repo_key(repo)}/_manifests/tags"):
            if (d := self.tag_digest(repo, name)) is not None:
                tags[name] = str(d)
        return RepoIndex(tags, {str(d) for d, _ in self.revisions(repo)})

    def _write_index(self, repo: str, index: RepoIndex) -> None:
        """The caller holds the namespace lock since it read ``index``."""
        self.driver.write(_index_key(repo), index.encode())

    def put_manifest(self, repo: str, raw: bytes, media_type: str, doc: Manifest | Index,
                     tag: str | None) -> Digest:
        """Store exact bytes, the index entry, the revision, the tag, the referrer entry and
        the catalog entry. The caller holds the namespace lock."""
        digest = Digest.of(raw)
        key = blob_key(digest)
        self.link_blob(repo, digest)  # first (see gc.py); clients may fetch it via /blobs/ too
        if self.driver.stat(key) is None:
            self.driver.write(key, raw)
        index = self.repo_index(repo)
        index.manifests.add(str(digest))
        if tag is not None:
            index.tags[tag] = str(digest)
        self._write_index(repo, index)  # before the tag: GC then never misses it
        self.driver.write(_revision_key(repo, digest), media_type.encode())
        if doc.subject is not None:
            desc = {"mediaType": media_type, "digest": digest, "size": len(raw)}
            artifact = json.loads(raw).get("artifactType") or (
                doc.config.media_type if isinstance(doc, Manifest) else None)
            if artifact:
                desc["artifactType"] = artifact
            if doc.annotations:
                desc["annotations"] = doc.annotations
            self.driver.write(f"{_referrers_prefix(repo, doc.subject.digest)}/"
                              f"{digest.algorithm}-{digest.hex}", json.dumps(desc).encode())
        if tag is not None:
            self.driver.write(_tag_key(repo, tag), digest.encode())
        if self.driver.stat(f"catalog/{repo.replace('/', '+')}") is None:
            self.driver.write(f"catalog/{repo.replace('/', '+')}", b"")
        return digest

    def delete_manifest(self, repo: str, digest: Digest) -> bool:
        """Remove a manifest from ``repo``: its revision, the tags on it, its referrer entry."""
        with self.namespace_lock(repo):
            return self._delete_manifest(repo, digest)

    def _delete_manifest(self, repo: str, digest: Digest) -> bool:
        if self.driver.stat(_revision_key(repo, digest)) is None:
            return False
        index = self.repo_index(repo)
        doomed = [t for t, d in index.tags.items() if d == digest]
        for tag in doomed:
            del index.tags[tag]
        index.manifests.discard(str(digest))
        self._write_index(repo, index)
        for tag in doomed:
            self.driver.delete(_tag_key(repo, tag))
        raw = self._manifest_bytes(digest)
        if raw is not None:
            try:
                subject = json.loads(raw).get("subject")
                if subject:
                    self.driver.delete(f"{_referrers_prefix(repo, subject['digest'])}/"
                                       f"{digest.algorithm}-{digest.hex}")
            except (ValueError, KeyError, TypeError):
                pass
        self.driver.delete(_revision_key(repo, digest))
        return True

    def delete_untagged(self, repo: str, digest: Digest, written_before: float) -> bool:
        """GC's sweep of one manifest: under the namespace lock, delete it only if it is
        still untagged and was not pushed again, nor named by a new index, since
        ``written_before``. False when it stays."""
        with self.namespace_lock(repo):
            st = self.driver.stat(_revision_key(repo, digest))
            if st is None or st.mtime >= written_before:
                return False
            if any(self.tag_digest(repo, t) == digest for t in self.tags(repo)):
                return False
            return self._delete_manifest(repo, digest)

    def tag_digest(self, repo: str, tag: str) -> Digest | None:
        raw = self.driver.read(_tag_key(repo, tag))
        return Digest(raw.decode()) if raw else None

    def tag_time(self, repo: str, tag: str) -> float | None:
        st = self.driver.stat(_tag_key(repo, tag))
        return st.mtime if st else None

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self.namespace_lock(repo):
            index = self.repo_index(repo)
            if index.tags.pop(tag, None) is not None:
                self._write_index(repo, index)
            return self.driver.delete(_tag_key(repo, tag))

    def tags(self, repo: str) -> list[str]:
        """From the index, read by key: a tag listing may lag."""
        return sorted(self.repo_index(repo).tags)

    def revisions(self, repo: str) -> Iterator[tuple[Digest, float]]:
        """Every manifest in ``repo`` with the time it was pushed."""
        for key, st in self.driver.walk(f"{repo_key(repo)}/_manifests/revisions"):
            alg, hexpart = key.rsplit("/", 2)[1:]
            yield Digest(f"{alg}:{hexpart}"), st.mtime

    def layers(self, repo: str) -> Iterator[tuple[Digest, float]]:
        for key, st in self.driver.walk(f"{repo_key(repo)}/_layers"):
            alg, hexpart = key.rsplit("/", 2)[1:]
            yield Digest(f"{alg}:{hexpart}"), st.mtime

    def referrers(self, repo: str, subject: str) -> list[dict]:
        prefix = _referrers_prefix(repo, subject)
        out = []
        for name in self.driver.list(prefix):
            raw = self.driver.read(f"{prefix}/{name}")
            if raw:
                out.append(json.loads(raw))
        return out

    def all_repositories(self, prefix: str = "") -> list[str]:
        """Every repository with blobs or manifests, in the catalog or not yet."""
        base = f"repositories/{prefix}".rstrip("/")
        names = self.driver.list(base)
        out = [prefix] if prefix and {"_layers", "_manifests", "_index"} & set(names) else []
        for n in names:
            if not n.startswith("_"):
                out += self.all_repositories(f"{prefix}/{n}" if prefix else n)
        return out

    def every_repository(self) -> list[str]:
        """REPOSITORY_LIST (read by key) and whatever a listing adds: a lagging listing can
        add a repository, never hide one."""
        return sorted(set(self.known_repositories()) | set(self.all_repositories()))

    def revision_time(self, repo: str, digest: Digest) -> float | None:
        """When the manifest was last pushed (or named by a new index), None if gone."""
        st = self.driver.stat(_revision_key(repo, digest))
        return st.mtime if st else None

    def repositories(self) -> list[str]:
        return sorted(name.replace("+", "/") for name in self.driver.list("catalog"))

    def manifest_bytes(self, digest: str) -> bytes | None:
        return self._manifest_bytes(digest)

    def forget_cached(self, digest: str) -> None:
        with self._cache_lock:
            raw = self._cache.pop(digest, None)
            if raw is not None:
                self._cache_bytes -= len(raw)
