"""A distribution-spec v1.1 client: one ``Registry`` per host, shared by its repositories.

Manifests, tags and referrers are here; the connection, auth and retries are the
``Session`` it extends (``session.py``); blob transfers are ``download.py`` (resumed with
``Range``) and ``upload.py`` (chunks with ``Content-Range``).
"""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import DigestMismatch, InvalidInput, NotFound, RegistryError
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor, Index
from wharfie.transports.registry import config as registries_config
from wharfie.transports.registry import upload
from wharfie.transports.registry.auth import scope_for
from wharfie.transports.registry.download import BlobReader
from wharfie.transports.registry.http import HTTPError
from wharfie.transports.registry.responses import read_reply
from wharfie.transports.registry.session import (
    READ_CHUNK,
    Session,
    SessionOptions,
    short_error,
)

if TYPE_CHECKING:
    from wharfie.oci.reference import Reference
    from wharfie.transports.registry.config import RegistriesConfig

MANIFEST_MAX = 4 << 20


@dataclass
class RegistryOptions(SessionOptions):
    """How to talk to registries (see ``SessionOptions``), and the one client per host."""

    # Checks an image before a pull stores it (a signature policy): called with the pulled
    # name and its digests (top-level, then the platform's); raises to refuse the image.
    verify_pull: Callable[[Reference, list[Digest]], None] | None = field(default=None,
                                                                          repr=False)
    # The registries files (mirrors, insecure registries, CA files): read on first use.
    registries_config: RegistriesConfig | None = field(default=None, repr=False)
    _registries: dict[tuple[str, bool], Registry] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def registry(self, host: str, *, push: bool = False) -> Registry:
        """The (shared) client for registry ``host``: docker.io is Docker Hub's endpoint;
        pulls try its mirrors first, a push goes to the registry itself."""
        with self._lock:
            if (host, push) not in self._registries:
                if self.registries_config is None:
                    self.registries_config = registries_config.load()
                endpoints = self.registries_config.endpoints(host, self.mirrors, push=push)
                self._registries[host, push] = Registry(host, self, endpoints)
            return self._registries[host, push]


class Registry(Session):
    """One registry host's distribution API, over its ``Session``."""

    # -- the API ------------------------------------------------------------------------------
    def check_login(self) -> None:
        """``GET /v2/`` with our credentials (a scopeless token for Bearer), as docker login."""
        self.request("GET", "/v2/", ok=(200,))

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, Digest]:
        """Exact bytes, media type and verified digest of a manifest or index. A mirror that
        fails (it lacks the image, or errs) gives way to the next endpoint, as docker's
        registry mirrors do; the blobs then come from where the manifest did."""
        while True:
            try:
                return self._get_manifest(repo, reference)
            except (NotFound, RegistryError, DigestMismatch, InvalidInput):
                if not self.fall_back():
                    raise

    def _get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, Digest]:
        try:
            resp = self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                scopes=(scope_for(repo, "pull"),),
                                headers={"Accept": mt.MANIFEST_ACCEPT}, ok=(200,), stream=True)
        except NotFound as e:  # Docker's wording: "manifest for NAME:TAG not found: ..."
            sep = "@" if ":" in reference else ":"
            reason = e.message.removeprefix(f"{self.host}: ")
            raise NotFound(f"manifest for {self.host}/{repo}{sep}{reference} not found: "
                           f"{reason}", status=e.status, codes=e.codes) from None
        try:
            reply = read_reply(resp, MANIFEST_MAX)
        except HTTPError as e:
            raise RegistryError(f"{self.host}/{repo}: reading manifest {reference}: "
                                f"{short_error(e)}") from None
        raw = reply.data
        if not reply.complete:
            raise InvalidInput(f"{self.host}/{repo}: manifest larger than {MANIFEST_MAX} bytes")
        media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        want = Digest(reference) if ":" in reference else None
        header = resp.headers.get("Docker-Content-Digest")
        if want is None and header:
            want = Digest(header)
        digest = Digest.of(raw, want.algorithm if want else "sha256")
        if want is not None and digest != want:
            raise DigestMismatch(f"{self.host}/{repo}@{reference}: manifest digest mismatch: "
                                 f"expected {want}, got {digest}")
        if media_type not in mt.ALL_MANIFESTS:
            try:
                media_type = json.loads(raw).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        return raw, media_type, Digest.of(raw)

    def head_manifest(self, repo: str, reference: str) -> Descriptor | None:
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}",
                            scopes=(scope_for(repo, "pull"),),
                            headers={"Accept": mt.MANIFEST_ACCEPT}, ok=(200, 404))
        if resp.status == 404:
            return None
        digest = resp.headers.get("Docker-Content-Digest")
        if not digest:
            raw, media_type, d = self.get_manifest(repo, reference)
            return Descriptor(media_type, d, len(raw))
        return Descriptor((resp.headers.get("Content-Type") or "").split(";")[0],
                          Digest(digest), int(resp.headers.get("Content-Length") or 0))

    def put_manifest(self, repo: str, reference: str, raw: bytes, media_type: str) -> Digest:
        digest = Digest.of(raw)
        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}",
                            scopes=(scope_for(repo, "pull,push"),),
                            headers={"Content-Type": media_type}, body=raw, ok=(200, 201))
        got = resp.headers.get("Docker-Content-Digest")
        if got and Digest(got) != digest:
            raise DigestMismatch(f"{self.host}/{repo}: registry stored manifest as {got}, "
                                 f"expected {digest}")
        doc = json.loads(raw)
        if isinstance(doc.get("subject"), dict) and not resp.headers.get("OCI-Subject"):
            self._add_referrer(repo, Descriptor.from_dict(doc["subject"]).digest, Descriptor(
                media_type, digest, len(raw), dict(doc.get("annotations") or {}),
                artifact_type=doc.get("artifactType") or (doc.get("config") or {}).get(
                    "mediaType")))
        return digest

    def _add_referrer(self, repo: str, subject: Digest, desc: Descriptor) -> None:
        """The referrers tag schema, for registries without the API: keep the index at
        tag ``<alg>-<hex>`` listing every manifest whose subject is ``subject``."""
        tag = referrers_tag(subject)
        try:
            raw, media_type, _ = self.get_manifest(repo, tag)
            have = list(Index.parse(raw, media_type).manifests)
        except NotFound:
            have = []
        if any(d.digest == desc.digest for d in have):
            return
        index = Index.build(have + [desc])
        self.put_manifest(repo, tag, index.raw, mt.OCI_INDEX)

    def delete_manifest(self, repo: str, digest: Digest) -> None:
        self.request("DELETE", f"/v2/{repo}/manifests/{digest}",
                     scopes=(scope_for(repo, "delete"),), ok=(200, 202))

    def blob_exists(self, repo: str, digest: Digest) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                            scopes=(scope_for(repo, "pull"),), ok=(200, 404))
        return resp.status == 200

    def open_blob(self, repo: str, desc: Descriptor) -> BinaryIO:
        """A stream of the blob; a dropped connection is resumed with ``Range``."""
        return io.BufferedReader(BlobReader(self, repo, desc), buffer_size=READ_CHUNK)

    def tags(self, repo: str, page_size: int = 1000) -> Iterator[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pages."""
        path: str | None = f"/v2/{repo}/tags/list?n={page_size}"
        while path:
            resp = self.request("GET", path, scopes=(scope_for(repo, "pull"),),
                                limit=MANIFEST_MAX)
            yield from (json.loads(resp.data).get("tags") or [])
            path = _next_link(resp.headers.get("Link"))

    def catalog(self, page_size: int = 1000) -> Iterator[str]:
        """Every repository name from ``/v2/_catalog`` (pages followed); raises NotFound
        when the registry serves no catalog."""
        path: str | None = f"/v2/_catalog?n={page_size}"
        while path:
            resp = self.request("GET", path, scopes=("registry:catalog:*",), ok=(200, 404),
                                limit=MANIFEST_MAX)
            if resp.status == 404:
                raise NotFound(f"registry {self.host} has no catalog (/v2/_catalog) to search")
            yield from (json.loads(resp.data).get("repositories") or [])
            path = _next_link(resp.headers.get("Link"))

    def referrers(self, repo: str, digest: Digest,
                  artifact_type: str | None = None) -> Index:
        """Manifests whose ``subject`` is ``digest``: the referrers API, else the tag schema."""
        path = f"/v2/{repo}/referrers/{digest}"
        if artifact_type:
            path += "?" + urllib.parse.urlencode({"artifactType": artifact_type})
        resp = self.request("GET", path, scopes=(scope_for(repo, "pull"),),
                            headers={"Accept": mt.OCI_INDEX}, ok=(200, 404),
                            limit=MANIFEST_MAX)
        ctype = (resp.headers.get("Content-Type") or "").split(";")[0]
        if resp.status == 200 and ctype == mt.OCI_INDEX:
            return Index.parse(resp.data, mt.OCI_INDEX)
        try:
            raw, media_type, _ = self.get_manifest(repo, referrers_tag(digest))
        except NotFound:
            return Index.build([])
        index = Index.parse(raw, media_type)
        if artifact_type:
            keep = [d for d in index.manifests if d.artifact_type == artifact_type]
            return Index.build(keep)
        return index

    # -- uploads (upload.py) ------------------------------------------------------------------
    def start_upload(self, repo: str, mount: tuple[str, Digest] | None = None
                     ) -> tuple[str | None, bool]:
        """POST an upload session (a mount if ``mount=(repo, digest)``): (Location, mounted)."""
        return upload.start_upload(self, repo, mount)

    def cancel_upload(self, location: str, repo: str) -> None:
        upload.cancel_upload(self, location, repo)

    def upload_blob(self, repo: str, desc: Descriptor, stream: BinaryIO,
                    progress: Callable[[int], None]) -> None:
        """Upload one blob (see ``upload.upload_blob``)."""
        upload.upload_blob(self, repo, desc, stream, progress)


def referrers_tag(digest: Digest) -> str:
    """The referrers tag schema's tag for ``digest``: ``sha256-<hex>``."""
    return f"{digest.algorithm}-{digest.hex}"


def _next_link(link: str | None) -> str | None:
    if not link:
        return None
    for part in link.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None
