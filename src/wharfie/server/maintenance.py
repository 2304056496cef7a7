"""Garbage collection, retention and scrub as operations on a configured registry: open its
store, run, write the deletions to the audit log. Used by the CLI and by the server's schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wharfie.errors import WharfieError
from wharfie.server.audit import AuditLog
from wharfie.server.config import ServerConfig, load_policy, open_store
from wharfie.server.gc import DEFAULT_GRACE, GcReport, collect
from wharfie.server.repositories import RegistryStore, blob_key
from wharfie.server.retention import RetentionReport, apply_retention
from wharfie.server.scrub import Damaged, scrub


def run_gc(config: ServerConfig, *, dry_run: bool = False, delete_untagged: bool = False,
           grace: float = DEFAULT_GRACE, store: RegistryStore | None = None) -> GcReport:
    store = store or open_store(config)
    report = collect(store, dry_run=dry_run, delete_untagged=delete_untagged, grace=grace)
    if not dry_run:
        store.purge_expired_uploads()
        _audit(config, "gc",
               [("manifest.delete", repo, {"digest": d}) for repo, d in report.manifests]
               + [("blob.delete", "", {"digest": d, "size": size}) for d, size in report.blobs])
    return report


def run_retention(config: ServerConfig, *, dry_run: bool = False,
                  store: RegistryStore | None = None) -> RetentionReport:
    if not config.policy:
        raise WharfieError("retention rules come from the policy file: give --policy")
    store = store or open_store(config)
    report = apply_retention(store, load_policy(config), dry_run=dry_run)
    if not dry_run:
        _audit(config, "retention",
               [("tag.delete", repo, {"tag": tag, "digest": d}) for repo, tag, d in report.tags]
               + [("manifest.delete", repo, {"digest": d}) for repo, d in report.manifests])
    return report


@dataclass
class ScrubReport:
    checked: int = 0
    damaged: list[Damaged] = field(default_factory=list)
    deleted: bool = False  # the damaged blobs were removed


def run_scrub(config: ServerConfig, *, delete: bool = False,
              on_damaged: Callable[[Damaged], None] | None = None) -> ScrubReport:
    """Re-hash every blob; ``delete`` removes the damaged ones (clients then re-push them).
    ``on_damaged`` hears of each as it is found, since a scrub of a big registry is long."""
    store = open_store(config)
    report = ScrubReport(deleted=delete)
    for _, bad in scrub(store):
        report.checked += 1
        if bad is None:
            continue
        report.damaged.append(bad)
        if on_damaged:
            on_damaged(bad)
        if delete:
            store.driver.delete(blob_key(bad.digest))
    return report


def _audit(config: ServerConfig, actor: str, events: Iterable[tuple[str, str, dict]]) -> None:
    audit = AuditLog(config.audit_file)
    try:
        for action, repo, fields in events:
            audit.record(actor, action, repo, **fields)
    finally:
        audit.close()
