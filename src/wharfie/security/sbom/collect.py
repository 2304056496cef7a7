"""Run the catalogers over an image's layers in order, so every package is traced to the
layer (and Dockerfile step) that added it, and, across all layers, the one that removed it.

Only the files some cataloger wants are kept (in memory, as bytes); after each layer the
catalogers whose files changed parse again, so a 20-layer image costs little more than its
changed package databases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from wharfie.security.sbom.catalogers import CATALOGERS
from wharfie.security.sbom.distro import OS_RELEASE, parse_os_release
from wharfie.security.sbom.model import Cataloger, Context, Distro, Found, LayerRef, Package


class EntryLike(Protocol):
    """What the layer walker's ``Entry`` gives (``read`` set for wanted regular files)."""

    path: str
    kind: str
    read: object


def wanted(path: str, catalogers: Iterable[Cataloger] = CATALOGERS) -> bool:
    """Whether any cataloger (or the distro detection) reads the file at ``path``."""
    return path in OS_RELEASE or any(c.primary(path) or c.auxiliary(path) for c in catalogers)


@dataclass
class Catalog:
    """The running result: files wanted so far, what each primary file declared, and
    which packages are present since which layer."""

    catalogers: tuple[Cataloger, ...] = CATALOGERS
    files: dict[str, bytes] = field(default_factory=dict)
    distro: Distro | None = None
    declared: dict[tuple[str, str], list[Package]] = field(default_factory=dict)
    present: dict[tuple, Found] = field(default_factory=dict)
    removed: list[Found] = field(default_factory=list)

    def apply(self, layer: LayerRef, entries: Iterable[EntryLike]) -> None:
        """Apply one layer's entries, then re-catalog what they changed."""
        changed = self._apply_entries(entries)
        distro_changed = bool(changed & set(OS_RELEASE))
        if distro_changed:
            self.distro = self._read_distro()
        for cat in self.catalogers:
            self._recatalog(cat, changed, distro_changed)
        self._track(layer)

    def _apply_entries(self, entries: Iterable[EntryLike]) -> set[str]:
        changed: set[str] = set()
        for e in entries:
            if e.kind in ("whiteout", "opaque"):
                prefix = e.path.rstrip("/") + "/"
                if e.kind == "whiteout":  # the path and all below it
                    gone = [p for p in self.files if p == e.path or p.startswith(prefix)]
                else:  # what lower layers had in the directory, not what this one adds
                    gone = [p for p in self.files if p.startswith(prefix) and p not in changed]
                for p in gone:
                    del self.files[p]
                changed.update(gone)
            elif e.kind == "file" and e.read is not None:
                self.files[e.path] = self._reduced(e.path, e.read())
                changed.add(e.path)
            elif e.path in self.files:  # a wanted file replaced by a link or a directory
                del self.files[e.path]
                changed.add(e.path)
        return changed

    def _reduced(self, path: str, data: bytes) -> bytes:
        """A file as kept: shrunk by the first cataloger that reduces what it reads."""
        for cat in self.catalogers:
            if cat.reduce is not None and cat.primary(path):
                return cat.reduce(data)
        return data

    def _read_distro(self) -> Distro | None:
        for path in OS_RELEASE:
            if path in self.files:
                return parse_os_release(self.files[path])
        return None

    def _recatalog(self, cat: Cataloger, changed: set[str], distro_changed: bool) -> None:
        everything = distro_changed or any(cat.auxiliary(p) for p in changed)
        primaries = [p for p in self.files if cat.primary(p)] if everything else \
            [p for p in changed if cat.primary(p) and p in self.files]
        for gone in [p for p in changed if cat.primary(p) and p not in self.files]:
            self.declared.pop((cat.name, gone), None)
        ctx = Context(self.distro, self.files.get)
        for path in primaries:
            self.declared[(cat.name, path)] = cat.parse(path, self.files[path], ctx)

    def _track(self, layer: LayerRef) -> None:
        now = {p.key: p for pkgs in self.declared.values() for p in pkgs}
        for key, found in list(self.present.items()):
            if key not in now:
                self.removed.append(Found(found.package, found.added, removed=layer))
                del self.present[key]
        for key, pkg in now.items():
            prior = self.present.get(key)
            self.present[key] = Found(pkg, prior.added if prior else layer)

    def packages(self, scope: str = "squashed") -> list[Found]:
        """What the final image holds; with ``all-layers`` also what a later layer removed."""
        found = list(self.present.values())
        if scope == "all-layers":
            found += self.removed
        return sorted(found, key=lambda f: (f.package.type, f.package.name,
                                            f.package.version, f.package.location))
