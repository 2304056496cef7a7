"""``--filter`` for images as the Docker daemon applies it (``images``, ``image prune``).

Docker's rules, kept: a ``reference`` filter also narrows which names an image
shows; ``dangling=true`` keeps images without tags; untagged images that are
the parent of another image (intermediate) are hidden unless ``--all``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from wharfie.errors import WharfieError
from wharfie.images.imagestore import ImageStore, StoredImage, parse_time
from wharfie.oci.reference import Reference


class InvalidFilter(WharfieError):
    """A ``--filter`` that is malformed or unknown here."""


def parse_filters(values: list[str] | tuple[str, ...], allowed: set[str]) -> dict[str, list[str]]:
    """``["dangling=true", "label=a"]`` -> ``{"dangling": ["true"], "label": ["a"]}``."""
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        key = key.strip().lower()
        if key.endswith("!") and sep:  # label!=x
            key, value = key[:-1] + "!", value
        if not sep or not key:
            raise InvalidFilter(f"bad format of filter (expected name=value): {v}")
        if key not in allowed:
            raise InvalidFilter(f"invalid filter '{key.rstrip('!')}'")
        out.setdefault(key, []).append(value)
    return out


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` stop at ``/``; ``[...]`` classes; ``\\`` escapes."""
    rx, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            rx.append("[^/]*")
        elif c == "?":
            rx.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            rx.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                raise InvalidFilter(f"invalid reference filter {pattern!r}: syntax error in pattern")
            body = pattern[i + 1:j]
            if body.startswith("^"):
                body = "^/" + body[1:]
            rx.append(f"[{body}]" if body else "(?!)")
            i = j
        else:
            rx.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), name) is not None


def familiar_match(pattern: str, ref: Reference) -> bool:
    """distribution/reference FamiliarMatch: the familiar string, else the familiar name."""
    return path_match(pattern, ref.familiar()) or path_match(pattern, ref.familiar_name)


def match_labels(wanted: list[str], labels: dict[str, str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` is among ``labels``."""
    for w in wanted:
        k, sep, v = w.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_until(value: str, now: float | None = None) -> float:
    """``until=`` as Docker reads it: a Go duration (``24h``, ``1h30m``) before now, a Unix
    timestamp, or an RFC 3339 / date-time string. Returns seconds since the epoch."""
    now = time.time() if now is None else now
    v = value.strip()
    if v and _DURATION.sub("", v) == "" and _DURATION.match(v):
        return now - sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(v))
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return float(v)
    ts = parse_time(v)
    if ts is None:
        for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
            try:
                return datetime.strptime(v, fmt).timestamp()
            except ValueError:
                pass
        raise InvalidFilter(f"failed to parse value as time or duration: {value!r}")
    return ts


@dataclass
class ListOptions:
    all: bool = False
    filters: dict[str, list[str]] = field(default_factory=dict)


LIST_FILTERS = {"dangling", "label", "before", "since", "reference", "until"}


def _bool(key: str, values: list[str]) -> bool:
    vals = {v.lower() for v in values}
    if not vals <= {"true", "false", "1", "0"}:
        bad = next(v for v in values if v.lower() not in {"true", "false", "1", "0"})
        raise InvalidFilter(f"invalid filter '{key}={bad}'")
    if len({v in ("true", "1") for v in vals}) > 1:
        raise InvalidFilter(f"invalid filter '{key}': conflicting values")
    return next(iter(vals)) in ("true", "1")


def _is_parent(img: StoredImage, others: list[StoredImage]) -> bool:
    """Docker hides untagged images that another image was built on (its layers extend them)."""
    n = len(img.diff_ids)
    return n > 0 and any(o.id != img.id and len(o.diff_ids) >= n and o.diff_ids[:n] == img.diff_ids
                         and (o.created_ts or 0) >= (img.created_ts or 0) for o in others)


def filter_images(store: ImageStore, images: list[StoredImage], opts: ListOptions
                  ) -> list[StoredImage]:
    """The images ``docker images`` would show, each with only the names that match."""
    f = opts.filters
    dangling = _bool("dangling", f["dangling"]) if "dangling" in f else None
    before = min(_created(store, v) for v in f["before"]) if "before" in f else None
    since = max(_created(store, v) for v in f["since"]) if "since" in f else None
    until = min(parse_until(v) for v in f["until"]) if "until" in f else None
    patterns = f.get("reference")
    out = []
    for img in images:
        ts = img.created_ts or 0
        if before is not None and not ts < before:
            continue
        if since is not None and not ts > since:
            continue
        if until is not None and not ts < until:
            continue
        if "label" in f and not match_labels(f["label"], img.labels):
            continue
        tags, digests = img.repo_tags, img.repo_digests
        if patterns is not None:
            tags = [r for r in tags if any(familiar_match(p, r) for p in patterns)]
            digests = [r for r in digests if any(familiar_match(p, r) for p in patterns)]
        if not tags and not digests:
            if patterns is not None:  # no name matched
                continue
            if dangling is False:
                continue
            if not opts.all and _is_parent(img, images):
                continue
        elif dangling and tags:
            continue
        if (tags, digests) != (img.repo_tags, img.repo_digests):
            img = _with_names(img, tags, digests)
        out.append(img)
    return out


def _with_names(img: StoredImage, tags: list[Reference], digests: list[Reference]) -> StoredImage:
    clone = StoredImage.__new__(StoredImage)
    clone.__dict__.update(img.__dict__)
    clone.repo_tags, clone.repo_digests = tags, digests
    return clone


def _created(store: ImageStore, name: str) -> float:
    return store.resolve(name).created_ts or 0

