"""Garbage collection and retention as operations on a configured registry: open its store,
run, write the deletions to the audit log. Used by the CLI and by the server's schedule."""

from __future__ import annotations

from wharfie.server.audit import AuditLog
from wharfie.server.gc import DEFAULT_GRACE, GcReport, collect
from wharfie.server.repositories import RegistryStore
from wharfie.server.retention import RetentionReport, apply_retention
from wharfie.server.server import ServerConfig, load_policy, open_driver


def open_store(config: ServerConfig) -> RegistryStore:
    return RegistryStore(open_driver(config), upload_ttl=config.upload_ttl)


def run_gc(config: ServerConfig, *, dry_run: bool = False, delete_untagged: bool = False,
           grace: float = DEFAULT_GRACE, store: RegistryStore | None = None) -> GcReport:
    store = store or open_store(config)
    report = collect(store, dry_run=dry_run, delete_untagged=delete_untagged, grace=grace)
    if not dry_run:
        store.purge_expired_uploads()
        audit = AuditLog(config.data / "audit.log")
        try:
            for repo, d in report.manifests:
                audit.record("gc", "manifest.delete", repo, digest=d)
            for d, size in report.blobs:
                audit.record("gc", "blob.delete", "", digest=d, size=size)
        finally:
            audit.close()
    return report


def run_retention(config: ServerConfig, *, dry_run: bool = False,
                  store: RegistryStore | None = None) -> RetentionReport:
    store = store or open_store(config)
    report = apply_retention(store, load_policy(config), dry_run=dry_run)
    if not dry_run:
        audit = AuditLog(config.data / "audit.log")
        try:
            for repo, tag, d in report.tags:
                audit.record("retention", "tag.delete", repo, tag=tag, digest=d)
            for repo, d in report.manifests:
                audit.record("retention", "manifest.delete", repo, digest=d)
        finally:
            audit.close()
    return report
