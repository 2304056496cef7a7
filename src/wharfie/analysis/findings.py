"""Why an image is big, as findings: the step that wasted the bytes and how to fix it.

Each rule reads what the layer walk recorded (``Observations``): bytes removed or
overwritten by a later layer, package-manager caches and compilers left in the final
filesystem, and ``.git``/``node_modules`` brought in by a COPY or ADD.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from wharfie.imagefs import Change, HistoryStep, Node

MIN_BYTES = 1024  # smaller waste is noise, not a finding

# (prefix, what it is, the fix)
CACHES = [
    ("var/lib/apt/lists/", "apt lists",
     "delete apt lists in the same RUN as apt-get: "
     "`apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*`"),
    ("var/cache/apt/", "the apt cache",
     "clean the apt cache in the same RUN as apt-get (`&& apt-get clean`), or keep it out "
     "of the image with `RUN --mount=type=cache,target=/var/cache/apt`"),
    ("var/cache/apk/", "the apk cache", "use `apk add --no-cache`"),
    ("var/cache/yum/", "the yum cache", "run `yum clean all` in the same RUN as yum install"),
    ("var/cache/dnf/", "the dnf cache", "run `dnf clean all` in the same RUN as dnf install"),
    ("root/.cache/pip/", "the pip cache", "use `pip install --no-cache-dir`"),
    ("root/.npm/", "the npm cache",
     "run `npm cache clean --force` in the same RUN, or use "
     "`RUN --mount=type=cache,target=/root/.npm`"),
]
_IGNORED_IN_CACHE = {"lock", "partial"}

COMPILER = re.compile(r"^(usr/(local/)?bin/((\w+-)*(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|rustc|"
                      r"cargo|javac|gfortran)(-[\d.]+)?)|usr/local/go/bin/go|usr/lib/go[\d.-]*/bin/go)$")
TOOLCHAIN_DIRS = ("usr/lib/gcc/", "usr/libexec/gcc/", "usr/local/go/", "usr/lib/llvm-",
                  "usr/local/rustup/", "usr/local/cargo/")
BROUGHT_IN = {
    ".git": "add `.git` to .dockerignore: this {step} brought in `{path}`",
    "node_modules": "add `node_modules` to .dockerignore and install dependencies in the "
                    "image (`RUN npm ci`): this {step} brought in `{path}`",
}
_COPY = re.compile(r"(^|\s|#\(nop\)\s*)(COPY|ADD)\b")


@dataclass(frozen=True)
class Finding:
    """One reason the image is bigger than it needs to be."""

    kind: str  # removed-later, overwritten, package-cache, build-tools, copied-in
    title: str
    layer: int  # the layer holding the wasted bytes
    step: str  # the Dockerfile step that made that layer
    history_index: int | None
    bytes: int
    fix: str
    paths: list[str] = field(default_factory=list)
    related_layers: list[int] = field(default_factory=list)  # e.g. where they were removed

    def to_dict(self) -> dict:
        return {"kind": self.kind, "title": self.title, "layer": self.layer,
                "step": self.step, "historyIndex": self.history_index, "bytes": self.bytes,
                "fix": self.fix, "paths": self.paths, "relatedLayers": self.related_layers}


@dataclass
class Observations:
    """What the walk saw, for the rules: per layer, its step and changes; the final tree."""

    steps: list[HistoryStep | None] = field(default_factory=list)
    changes: list[list[Change]] = field(default_factory=list)
    final: list[tuple[str, Node]] = field(default_factory=list)

    def step(self, layer: int) -> tuple[str, int | None]:
        s = self.steps[layer] if 0 <= layer < len(self.steps) else None
        return (s.created_by, s.index) if s else ("(missing)", None)


def find_all(obs: Observations, first_user_layer: int) -> list[Finding]:
    """Every finding, biggest first; base-image layers are not blamed on the Dockerfile."""
    found = (removed_later(obs) + overwritten(obs) + package_caches(obs) + build_tools(obs)
             + copied_in(obs))
    mine = [f for f in found if f.layer >= first_user_layer and f.bytes >= MIN_BYTES]
    return sorted(mine, key=lambda f: (-f.bytes, f.layer, f.title))


def removed_later(obs: Observations) -> list[Finding]:
    out = []
    for layer, changes in enumerate(obs.changes):
        for c in changes:
            if c.action != "removed" or c.previous is None or c.previous_size == 0:
                continue
            step, index = obs.step(c.previous)
            later, _ = obs.step(layer)
            cache = _cache_of(c.path + "/") or _cache_of(c.path)
            if cache is not None:
                fix = cache[2]
            elif _is_copy(step):
                fix = (f"do not bring `/{c.path}` in at all (.dockerignore, or a multi-stage "
                       f"build that copies only what runs): deleting it in layer {layer} "
                       "does not shrink the image")
            else:
                fix = (f"delete `/{c.path}` in the same RUN that creates it (combine layer "
                       f"{c.previous}'s RUN with layer {layer}'s `{_short(later)}`): a later "
                       "delete does not shrink the image")
            out.append(Finding("removed-later", f"/{c.path} added in layer {c.previous}, "
                               f"removed in layer {layer}", c.previous, step, index,
                               c.previous_size, fix, [c.path], [layer]))
    return out


def overwritten(obs: Observations) -> list[Finding]:
    writes: dict[str, list[tuple[int, int]]] = defaultdict(list)  # path -> (layer, size)
    for layer, changes in enumerate(obs.changes):
        for c in changes:
            if c.action == "modified" and c.kind == "file" and c.previous is not None:
                if not writes[c.path]:
                    writes[c.path].append((c.previous, c.previous_size))
                writes[c.path].append((layer, c.size))
    out = []
    for path, seen in writes.items():
        wasted = sum(size for _, size in seen[:-1])
        layers = [layer for layer, _ in seen]
        first = layers[0]
        step, index = obs.step(first)
        listed = ", ".join(str(x) for x in layers)
        out.append(Finding(
            "overwritten", f"/{path} written in {len(layers)} layers ({listed})", first,
            step, index, wasted,
            f"combine these RUNs (layers {listed}) so `/{path}` is written once: each "
            "earlier copy stays in its layer", [path], layers[1:]))
    return out


def package_caches(obs: Observations) -> list[Finding]:
    held: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for path, node in obs.final:
        cache = _cache_of(path)
        if cache is None or node.kind != "file" or node.size == 0:
            continue
        if path.rsplit("/", 1)[-1] in _IGNORED_IN_CACHE:
            continue
        held[(CACHES.index(cache), node.layer)].append((path, node.size))
    out = []
    for (which, layer), files in held.items():
        _, what, fix = CACHES[which]
        step, index = obs.step(layer)
        out.append(Finding("package-cache", f"{what} left in layer {layer}", layer, step,
                           index, sum(n for _, n in files), fix,
                           [p for p, _ in sorted(files, key=lambda f: -f[1])[:10]]))
    return out


def build_tools(obs: Observations) -> list[Finding]:
    compilers: dict[int, list[str]] = defaultdict(list)
    weight: dict[int, int] = defaultdict(int)
    for path, node in obs.final:
        if COMPILER.match(path) and node.kind in ("file", "symlink", "hardlink"):
            compilers[node.layer].append(path)
        if node.kind == "file" and (path.startswith(TOOLCHAIN_DIRS) or COMPILER.match(path)):
            weight[node.layer] += node.size
    out = []
    for layer, paths in compilers.items():
        step, index = obs.step(layer)
        names = ", ".join(sorted({p.rsplit("/", 1)[-1] for p in paths}))
        out.append(Finding(
            "build-tools", f"compiler in layer {layer} ({names})", layer, step, index,
            weight[layer],
            f"use a multi-stage build: the compiler in layer {layer} ({names}) is not needed "
            "at run time; build in a `FROM ... AS build` stage and `COPY --from=build` only "
            "what runs", sorted(paths)))
    return out


def copied_in(obs: Observations) -> list[Finding]:
    out = []
    for layer, changes in enumerate(obs.changes):
        step, index = obs.step(layer)
        if not _is_copy(step):
            continue
        roots: dict[str, int] = defaultdict(int)
        for c in changes:
            if c.action not in ("added", "modified"):
                continue
            parts = c.path.split("/")
            for i, part in enumerate(parts):
                if part in BROUGHT_IN:
                    roots["/".join(parts[:i + 1])] += c.size
                    break
        for root, size in roots.items():
            name = root.rsplit("/", 1)[-1]
            instruction = "ADD" if re.search(r"\bADD\b", step) else "COPY"
            out.append(Finding(
                "copied-in", f"{instruction} brought in /{root}", layer, step, index, size,
                BROUGHT_IN[name].format(step=instruction, path=root), [root]))
    return out


def _cache_of(path: str) -> tuple[str, str, str] | None:
    for cache in CACHES:
        if path.startswith(cache[0]):
            return cache
    return None


def _is_copy(step: str) -> bool:
    return bool(_COPY.search(step))


def _short(step: str, width: int = 60) -> str:
    text = re.sub(r"^/bin/sh -c (#\(nop\)\s*)?", "", step).strip()
    return text if len(text) <= width else text[:width - 3] + "..."
