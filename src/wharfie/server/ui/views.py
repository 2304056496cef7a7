"""What the web pages show, read from the registry store the way the API reads it (the
catalog, each repository's ``_index``, manifests by digest). Plain data, so every page is
also JSON under ``/ui/api/``; synchronous, run in a thread when the driver is remote."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from wharfie.errors import InvalidInput
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import ImageConfig, Index, Manifest, parse_manifest_or_index
from wharfie.server.audit import read_audit
from wharfie.server.gc import CANDIDATES
from wharfie.server.policy import Policy, namespace_usage
from wharfie.server.repositories import RegistryStore
from wharfie.server.scanning import DB_DATE, SARIF_TYPE, counts, report_descriptor
from wharfie.signing.attach import SIGNATURE_ANNOTATION, SIMPLESIGNING, signature_tag
from wharfie.signing.payload import parse_payload

PAGE = 50


def _iso(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None


@dataclass
class RepoSummary:
    name: str
    tags: int
    size: int
    last_push: str | None


def repo_summary(store: RegistryStore, repo: str) -> RepoSummary:
    """Tag count from the index, size of the distinct blobs it links, newest manifest push."""
    index = store.repo_index(repo)
    pushed = [t for _, t in store.revisions(repo)]
    size = sum(store.blob_size_global(d) or 0 for d, _ in store.layers(repo))
    return RepoSummary(repo, len(index.tags), size, _iso(max(pushed, default=None)))


def page_of(names: list[str], query: str, last: str) -> tuple[list[str], str | None]:
    """One page of ``names`` matching ``query`` after ``last``, and the next page's marker."""
    if query:
        names = [n for n in names if query.lower() in n.lower()]
    if last:
        names = [n for n in names if n > last]
    page = names[:PAGE]
    return page, (page[-1] if len(names) > PAGE else None)


@dataclass
class TagRow:
    tag: str
    digest: str
    media_type: str
    kind: str  # image | index | artifact | signature
    platforms: list[str]
    size: int
    created: str | None
    pushed: str | None
    signed: bool
    immutable: bool
    scan: dict | None = None  # an image's scan report (scan_summary), None if not scanned
    pulled: str | None = None  # its last manifest GET


def _config(store: RegistryStore, m: Manifest) -> ImageConfig | None:
    if m.config.size > 4 << 20:
        return None
    try:
        with store.open_blob(m.config.digest) as f:
            return ImageConfig.parse(f.read())
    except (OSError, InvalidInput, ValueError):
        return None


def _doc(store: RegistryStore, digest: str) -> Manifest | Index | None:
    raw = store.manifest_bytes(digest)
    if raw is None:
        return None
    try:
        return parse_manifest_or_index(raw)
    except (InvalidInput, ValueError):
        return None


def tag_rows(store: RegistryStore, policy: Policy | None, repo: str,
             names: list[str] | None = None, pulls: dict[str, float] | None = None
             ) -> list[TagRow]:
    """Rows for the tags ``names`` (all, sorted, by default); ``pulls`` gives each digest's
    last pull."""
    index = store.repo_index(repo)
    pulls = pulls or {}
    rows = []
    for tag in sorted(index.tags) if names is None else names:
        digest = index.tags.get(tag)
        if digest is None:
            continue
        doc = _doc(store, digest)
        platforms: list[str] = []
        created = None
        size = len(doc.raw) if doc else 0
        kind = "artifact"
        if isinstance(doc, Index):
            kind = "index"
            platforms = [str(d.platform) for d in doc.manifests if d.platform]
            size += sum(d.size for d in doc.manifests)
        elif isinstance(doc, Manifest):
            size += doc.config.size + sum(d.size for d in doc.layers)
            if tag.endswith(".sig"):
                kind = "signature"
            elif doc.config.media_type.endswith(("container.image.v1+json", "image.config.v1+json")):
                kind = "image"
                config = _config(store, doc)
                if config is not None:
                    platforms = [str(config.platform)]
                    created = config.created
        rows.append(TagRow(tag, digest, doc.media_type if doc else "", kind, platforms, size,
                           created, _iso(store.tag_time(repo, tag)),
                           signature_tag(Digest(digest)) in index.tags,
                           bool(policy and policy.tag_is_immutable(repo, tag)),
                           scan_summary(store, repo, digest) if kind == "image" else None,
                           _iso(pulls.get(digest))))
    return rows


def tag_page(store: RegistryStore, policy: Policy | None, repo: str, pulls: dict[str, float],
             query: str = "", sort: str = "", kind: str = "", start: int = 0
             ) -> tuple[list[TagRow], int | None, int]:
    """One page of a repository's tags (rows, the next page's start, how many matched).
    Sorted by name, only the page's rows are read; other orders need every row first."""
    names = sorted(store.repo_index(repo).tags)
    if query:
        names = [n for n in names if query.lower() in n.lower()]
    if sort.lstrip("-") in ("", "tag") and not kind:
        if sort.startswith("-"):
            names.reverse()
        total = len(names)
        rows = tag_rows(store, policy, repo, names[start:start + PAGE], pulls)
    else:
        rows = sort_and_filter(tag_rows(store, policy, repo, names, pulls), "", sort, kind)
        total = len(rows)
        rows = rows[start:start + PAGE]
    return rows, (start + PAGE if start + PAGE < total else None), total


SORTS = {"tag": lambda r: r.tag, "pushed": lambda r: r.pushed or "",
         "created": lambda r: r.created or "", "size": lambda r: r.size,
         "pulled": lambda r: r.pulled or ""}


def sort_and_filter(rows: list[TagRow], query: str, sort: str, kind: str) -> list[TagRow]:
    if query:
        rows = [r for r in rows if query.lower() in r.tag.lower()]
    if kind:
        rows = [r for r in rows if r.kind == kind]
    key = SORTS.get(sort.lstrip("-"), SORTS["tag"])
    return sorted(rows, key=key, reverse=sort.startswith("-"))


def scan_summary(store: RegistryStore, repo: str, digest: str) -> dict | None:
    """The newest scan report of an image (scan on push): its digest, the findings per
    severity, their total and the vulnerability database's date; None if not scanned."""
    found = report_descriptor(store, repo, digest)
    if found is None:
        return None
    per_severity = counts(found)
    return {"report": found["digest"], "counts": per_severity,
            "total": sum(per_severity.values()),
            "db_date": (found.get("annotations") or {}).get(DB_DATE, "")}


@dataclass
class Signature:
    verdict: str  # "names this image" or why it does not count
    identity: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


def signatures(store: RegistryStore, repo: str, digest: Digest) -> list[Signature]:
    """cosign's ``.sig`` manifest for ``digest``: each signature's payload checked against
    the image. The key that made it is not known to the server: ``wharfie verify`` checks
    that; the page says which image each signature claims."""
    sig_digest = store.tag_digest(repo, signature_tag(digest))
    doc = _doc(store, sig_digest) if sig_digest else None
    if not isinstance(doc, Manifest):
        return []
    out = []
    for layer in doc.layers:
        if layer.media_type != SIMPLESIGNING or SIGNATURE_ANNOTATION not in layer.annotations:
            continue
        try:
            with store.open_blob(layer.digest) as f:
                payload = parse_payload(f.read(64 << 10))
        except (OSError, InvalidInput) as e:
            out.append(Signature(f"unreadable payload: {e}"))
            continue
        verdict = ("names this image" if payload.digest == digest
                   else f"names another image ({payload.digest}): not a signature of this one")
        out.append(Signature(verdict, payload.identity, payload.annotations))
    return out


@dataclass
class HistoryRow:
    created: str | None
    created_by: str
    comment: str
    empty: bool
    layer: str | None
    size: int | None


def history(config: ImageConfig | None, m: Manifest) -> list[HistoryRow]:
    """The config's history with each non-empty step's layer and compressed size."""
    if config is None:
        return []
    layers = iter(m.layers)
    rows = []
    for h in config.history:
        empty = bool(h.get("empty_layer"))
        layer = None if empty else next(layers, None)
        rows.append(HistoryRow(h.get("created"), str(h.get("created_by", "")),
                               str(h.get("comment", "")), empty,
                               str(layer.digest) if layer else None,
                               layer.size if layer else None))
    return rows


def descriptor_dict(d) -> dict:
    return {"digest": str(d.digest), "media_type": d.media_type, "size": d.size,
            "platform": str(d.platform) if d.platform else "",
            "annotations": d.annotations, "artifact_type": d.artifact_type or ""}


def manifest_view(store: RegistryStore, repo: str, ref: str) -> dict | None:
    """An image (config, history, layers, referrers, signatures) or an index (platforms)."""
    stored = store.get_manifest(repo, ref)
    if stored is None:
        return None
    try:
        doc = parse_manifest_or_index(stored.raw, stored.media_type)
    except (InvalidInput, ValueError):
        return None
    view: dict = {"repository": repo, "reference": ref, "digest": str(stored.digest),
                  "media_type": stored.media_type, "annotations": doc.annotations,
                  "referrers": sorted(store.referrers(repo, stored.digest),
                                      key=lambda x: x["digest"]),
                  "signatures": [asdict(s) for s in signatures(store, repo, stored.digest)],
                  "tags": sorted(t for t, d in store.repo_index(repo).tags.items()
                                 if d == stored.digest)}
    if isinstance(doc, Index):
        view["kind"] = "index"
        view["manifests"] = [descriptor_dict(d) for d in doc.manifests]
        return view
    config = _config(store, doc)
    view["kind"] = "image"
    view["scan"] = scan_summary(store, repo, str(stored.digest))
    if view["scan"] is not None:
        report = _doc(store, view["scan"]["report"])
        view["scan"]["sarif"] = next((str(d.digest) for d in getattr(report, "layers", [])
                                      if d.media_type == SARIF_TYPE), "")
    view["config_digest"] = str(doc.config.digest)
    view["layers"] = [descriptor_dict(d) for d in doc.layers]
    view["size"] = doc.config.size + sum(d.size for d in doc.layers)
    view["history"] = [asdict(h) for h in history(config, doc)]
    c = config.config if config else {}
    view["config"] = {
        "platform": str(config.platform) if config else "", "created": config.created
        if config else None, "user": c.get("User") or "", "workdir": c.get("WorkingDir") or "",
        "env": list(c.get("Env") or []), "cmd": c.get("Cmd"), "entrypoint": c.get("Entrypoint"),
        "labels": dict(c.get("Labels") or {}), "ports": sorted(c.get("ExposedPorts") or {})}
    return view


def audit_entries(path, visible, *, who: str = "", action: str = "", repo: str = "",
                  limit: int = 200) -> list[dict]:
    """The newest audit records first, only those ``visible(record)`` allows, filtered."""
    try:
        records = read_audit(path)
    except FileNotFoundError:
        return []
    out = []
    for rec in reversed(records):
        if who and rec.get("who") != who or action and rec.get("action") != action:
            continue
        if repo and repo not in rec.get("repository", ""):
            continue
        if visible(rec):
            out.append(rec)
            if len(out) >= limit:
                break
    return out


def quota_rows(store: RegistryStore, policy: Policy | None, namespaces: set[str]) -> list[dict]:
    if policy is None:
        return []
    return [{"namespace": ns, "quota": limit, "used": namespace_usage(store, ns)}
            for ns, limit in sorted(policy.quotas.items()) if ns in namespaces]


def health(store: RegistryStore, audit_path, visible_repo) -> dict:
    """Storage used, the last GC (its candidates record is rewritten by every run) and what
    it reclaimed (its audit records), uploads in progress."""
    used = blobs = 0
    for _, st in store.driver.walk("blobs"):
        used += st.size
        blobs += 1
    gc_stat = store.driver.stat(CANDIDATES)
    last = gc_stat.mtime if gc_stat else None
    reclaimed = 0
    if last is not None:
        since = _iso(int(last))
        for rec in audit_entries(audit_path, lambda r: True, who="gc", action="blob.delete",
                                 limit=1 << 30):
            if rec["time"] < since:
                break
            reclaimed += int(rec.get("size", 0))
    uploads = [{"repository": info["repo"], "started": _iso(info.get("started")),
                "bytes": store.upload_size(upload_id)}
               for upload_id, info in store.open_uploads() if visible_repo(info["repo"])]
    return {"storage_bytes": used, "blobs": blobs, "gc_last_run": _iso(last),
            "gc_reclaimed_bytes": reclaimed if last else None, "uploads": uploads}


def to_json(obj) -> str:
    return json.dumps(obj, default=str, indent=1)
