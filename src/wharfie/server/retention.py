"""Retention: the policy's per-repository rules decide which tags and untagged manifests go.

For each repository the first rule whose pattern matches applies:

- ``keep_last: N`` keeps the N most recently pushed tags; ``tag_older_than`` deletes only
  tags older than that; without either, no tag is deleted;
- ``keep_tags`` (a regex) and ``keep_semver`` (``>=1.0,<2``) protect matching tags, and
  immutable tags are never deleted;
- ``untagged_older_than`` deletes manifests no tag reaches (an index's children and the
  referrers of kept manifests count as reached) once they are that old.

Blobs are left to ``gc``, which runs after retention on a schedule.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from wharfie.oci.digest import Digest
from wharfie.server.errors import RegistryError
from wharfie.server.gc import live_manifests
from wharfie.server.policy import Policy, RetentionRule, semver_match
from wharfie.server.repositories import RegistryStore


@dataclass
class RetentionReport:
    dry_run: bool
    tags: list[tuple[str, str, Digest]] = field(default_factory=list)  # (repo, tag, digest)
    manifests: list[tuple[str, Digest]] = field(default_factory=list)


def _rule_for(policy: Policy, repo: str) -> RetentionRule | None:
    return next((r for r in policy.retention
                 if any(fnmatchcase(repo, p) for p in r.repos)), None)


def _protected(policy: Policy, rule: RetentionRule, repo: str, tag: str) -> bool:
    if rule.keep_tags and re.search(rule.keep_tags, tag):
        return True
    if rule.keep_semver and semver_match(tag, rule.keep_semver):
        return True
    try:
        policy.check_tag_mutable(repo, tag)
    except RegistryError:
        return True
    return False


def apply_retention(store: RegistryStore, policy: Policy, *, dry_run: bool = False,
                    now: float | None = None) -> RetentionReport:
    now = now or time.time()
    report = RetentionReport(dry_run)
    for repo in store.repositories():
        rule = _rule_for(policy, repo)
        if rule is None:
            continue
        tags = [(t, store.tag_time(repo, t) or 0.0, store.tag_digest(repo, t))
                for t in store.tags(repo)]
        tags.sort(key=lambda x: (x[1], x[0]), reverse=True)  # newest first
        doomed = []
        if rule.keep_last is not None or rule.tag_older_than is not None:
            for i, (tag, pushed, digest) in enumerate(tags):
                if rule.keep_last is not None and i < rule.keep_last:
                    continue
                if rule.tag_older_than is not None and now - pushed < rule.tag_older_than:
                    continue
                if digest is None or _protected(policy, rule, repo, tag):
                    continue
                doomed.append((tag, digest))
        for tag, digest in doomed:
            report.tags.append((repo, tag, digest))
            if not dry_run:
                store.delete_tag(repo, tag)
        if rule.untagged_older_than is None:
            continue
        gone = {t for t, _ in doomed}
        roots = {d for t, _, d in tags if d is not None and t not in gone}
        revisions = dict(store.revisions(repo))
        live = live_manifests(store, repo, roots, set(revisions))
        for d, pushed in sorted(revisions.items()):
            if d not in live and now - pushed >= rule.untagged_older_than:
                report.manifests.append((repo, d))
                if not dry_run:
                    store.delete_manifest(repo, d)
    return report
