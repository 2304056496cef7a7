"""The policy file (YAML or JSON): who may pull, push and delete where; immutable tags;
quotas per namespace; retention rules.

Example::

    users: {carol: "$2y$10$..."}          # besides the htpasswd file, bcrypt hashes
    groups: {devs: [alice, bob]}
    access:
      - {repos: ["team/*"], groups: [devs], actions: [pull, push, delete]}
      - {repos: ["public/*"], users: [anonymous, "*"], actions: [pull]}
    immutable_tags:
      - {repos: ["*"], tags: ["v*"]}
    quotas: {team: 500MiB}
    retention:
      - {repos: ["team/*"], keep_last: 5, keep_tags: "^stable$", keep_semver: ">=1.0,<2",
         untagged_older_than: 7d}
    require_signatures:                   # pulls need a signature by one of the keys
      - {repos: ["prod/*"], keys: [cosign.pub, "-----BEGIN PUBLIC KEY-----..."]}

Repository and tag patterns are shell globs (``*`` also crosses ``/``). In ``users``,
``anonymous`` means requests without credentials and ``*`` any signed-in user or robot.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.server.errors import RegistryError
from wharfie.signing.required import SignatureRule, parse_rules
from wharfie.units import parse_size

ACTIONS = ("pull", "push", "delete")
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: int | float | str) -> float:
    if isinstance(value, int | float):
        return float(value)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)([smhdw])", value):
        if m.start() != pos:
            break
        total += float(m[1]) * _DURATION[m[2]]
        pos = m.end()
    if pos != len(value) or not value:
        raise WharfieError(f"invalid duration {value!r} (use e.g. 90s, 12h, 7d)")
    return total


def _version(tag: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"v?(\d+(?:\.\d+){0,2})(?:[-+].*)?", tag)
    return tuple(int(x) for x in m[1].split(".")) + (0,) * (2 - m[1].count(".")) if m else None


def semver_match(tag: str, constraint: str) -> bool:
    """``1.4.2`` against ``>=1.0,<2``: comma-separated comparisons, all must hold."""
    v = _version(tag)
    if v is None:
        return False
    ops = {">=": v.__ge__, "<=": v.__le__, ">": v.__gt__, "<": v.__lt__, "==": v.__eq__,
           "=": v.__eq__, "!=": v.__ne__}
    for part in constraint.split(","):
        m = re.fullmatch(r"\s*(>=|<=|>|<|==|=|!=)?\s*(\S+)\s*", part)
        want = _version(m[2]) if m else None
        if want is None:
            raise WharfieError(f"invalid semver constraint {constraint!r}")
        if not ops[m[1] or "=="](want):
            return False
    return True


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``anonymous``, a user, or a robot (``robot$name``)."""

    name: str = "anonymous"
    kind: str = "anonymous"  # anonymous | user | robot
    groups: frozenset[str] = frozenset()


ANONYMOUS = Principal()


@dataclass
class Rule:
    repos: list[str]
    actions: set[str]
    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)

    def applies(self, who: Principal, repo: str) -> bool:
        if not any(fnmatchcase(repo, p) for p in self.repos):
            return False
        if who.kind == "anonymous":
            return "anonymous" in self.users
        return "*" in self.users or who.name in self.users or bool(who.groups & self.groups)


@dataclass
class RetentionRule:
    repos: list[str]
    keep_last: int | None = None
    keep_tags: str | None = None
    keep_semver: str | None = None
    untagged_older_than: float | None = None
    tag_older_than: float | None = None


@dataclass
class Policy:
    rules: list[Rule] = field(default_factory=list)
    groups: dict[str, set[str]] = field(default_factory=dict)
    immutable: list[tuple[list[str], list[str]]] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    retention: list[RetentionRule] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # name -> bcrypt hash
    signatures: tuple[SignatureRule, ...] = ()  # signing.required: signed pulls only
    default_open: bool = True  # no access rules at all: every signed-in principal may do all
    _usage_cache: dict[str, tuple[float, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        text = Path(path).read_text()
        try:
            if str(path).endswith(".json"):
                doc = json.loads(text)
            else:
                import yaml

                doc = yaml.safe_load(text)
        except Exception as e:
            raise WharfieError(f"cannot parse policy {path}: {e}") from None
        return cls.from_dict(doc or {}, base=Path(path).parent)

    @classmethod
    def from_dict(cls, doc: dict, base: Path | None = None) -> Policy:
        """``base``: where relative key paths of ``require_signatures`` start."""
        try:
            rules = []
            for r in doc.get("access") or []:
                actions = set(r.get("actions") or [])
                if actions - set(ACTIONS):
                    raise WharfieError(f"unknown actions {sorted(actions - set(ACTIONS))}")
                rules.append(Rule(list(r["repos"]), actions, set(r.get("users") or []),
                                  set(r.get("groups") or [])))
            retention = [
                RetentionRule(
                    list(r["repos"]), r.get("keep_last"), r.get("keep_tags"),
                    r.get("keep_semver"),
                    parse_duration(r["untagged_older_than"]) if r.get("untagged_older_than")
                    else None,
                    parse_duration(r["tag_older_than"]) if r.get("tag_older_than") else None)
                for r in doc.get("retention") or []]
            return cls(
                rules=rules,
                groups={g: set(m) for g, m in (doc.get("groups") or {}).items()},
                immutable=[(list(x["repos"]), list(x["tags"]))
                           for x in doc.get("immutable_tags") or []],
                quotas={ns: parse_size(v) for ns, v in (doc.get("quotas") or {}).items()},
                retention=retention,
                users={str(k): str(v) for k, v in (doc.get("users") or {}).items()},
                signatures=parse_rules(doc.get("require_signatures"), base),
                default_open=not rules,
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise WharfieError(f"invalid policy: missing or bad field {e}") from None

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(g for g, members in self.groups.items() if user in members)

    def allowed(self, who: Principal, repo: str) -> set[str]:
        """The actions ``who`` may take on ``repo``."""
        if self.default_open:
            return set(ACTIONS) if who.kind != "anonymous" else set()
        out: set[str] = set()
        for rule in self.rules:
            if rule.applies(who, repo):
                out |= rule.actions
        return out

    def tag_is_immutable(self, repo: str, tag: str) -> bool:
        return any(any(fnmatchcase(repo, p) for p in repos) and
                   any(fnmatchcase(tag, t) for t in tags) for repos, tags in self.immutable)

    def check_tag_mutable(self, repo: str, tag: str) -> None:
        if self.tag_is_immutable(repo, tag):
            raise RegistryError("DENIED", "tag is immutable", {"repository": repo, "tag": tag})

    def has_quota(self, repo: str) -> bool:
        return repo.split("/", 1)[0] in self.quotas

    def check_quota(self, store, repo: str, extra: int, upload: str | None = None) -> None:
        """Refuse data that would take the repository's namespace over its quota; call it
        under the namespace lock with the write it allows. ``upload``: the session being
        finished, whose parts ``extra`` replaces."""
        ns = repo.split("/", 1)[0]
        limit = self.quotas.get(ns)
        if limit is None:
            return
        used = namespace_usage(store, ns, skip_upload=upload)
        if used + extra > limit:
            raise RegistryError("DENIED", "storage quota exceeded",
                                {"namespace": ns, "quota": limit, "used": used,
                                 "requested": extra})


def namespace_usage(store, ns: str, skip_upload: str | None = None) -> int:
    """Bytes of distinct blobs (layers, configs, manifests) linked by the namespace's
    repositories, plus the data of its unfinished uploads."""
    seen: dict[str, int] = {}
    for repo in store.all_repositories(ns):
        for d, _ in store.layers(repo):
            if d not in seen:
                seen[d] = store.blob_size_global(d) or 0
    return sum(seen.values()) + store.upload_bytes(ns, skip=skip_upload)
