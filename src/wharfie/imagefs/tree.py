"""The image's filesystem as its layers build it up: who added, changed and removed what.

``Tree.apply(index, entries)`` stacks one layer on the ones before it (whiteouts remove,
opaque markers empty a directory of what lower layers put there) and returns that
layer's changes. What is left (``files()``) is the squashed image; each node remembers
the layer that first added it and the one that last wrote it. Analysis uses the changes
(wasted bytes, "added then deleted"); SBOM uses ``files()`` for ``--scope squashed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from wharfie.imagefs.walker import Entry


@dataclass(slots=True)
class Node:
    """A path in the stacked tree."""

    kind: str
    size: int
    added: int  # the layer that created it (since it was last removed)
    layer: int  # the layer that last wrote it
    entry: Entry | None = None  # None for a directory no layer names (an implied parent)
    children: dict[str, Node] = field(default_factory=dict)

    def total(self) -> int:
        """Its size plus, for a directory, everything under it."""
        return self.size + sum(c.total() for c in self.children.values())

    def walk(self, prefix: str) -> Iterator[tuple[str, Node]]:
        for name in sorted(self.children):
            child = self.children[name]
            path = f"{prefix}/{name}" if prefix else name
            yield path, child
            yield from child.walk(path)


@dataclass(frozen=True, slots=True)
class Change:
    """What one layer did to one path: ``added``, ``modified`` or ``removed``.

    ``size`` is the bytes now there (for ``removed``: the bytes removed, a directory's
    whole subtree); ``previous`` is the layer that had written what was replaced or
    removed, ``previous_size`` its size.
    """

    path: str
    action: str
    kind: str
    size: int
    previous: int | None = None
    previous_size: int = 0


class Tree:
    """Layers stacked in order, as a runtime's overlay would show them."""

    def __init__(self) -> None:
        self.root = Node("dir", 0, -1, -1)

    def apply(self, index: int, entries: Iterable[Entry]) -> list[Change]:
        """Stack layer ``index`` (its entries in tar order); its changes, in that order."""
        changes: list[Change] = []
        for e in entries:
            if e.kind == "whiteout":
                self._remove(e.path, index, changes)
            elif e.kind == "opaque":
                self._empty(e.path, index, changes)
            else:
                self._put(e, index, changes)
        return changes

    def get(self, path: str) -> Node | None:
        node = self.root
        for part in _parts(path):
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def files(self) -> Iterator[tuple[str, Node]]:
        """Every path of the squashed image, parents before children, siblings by name."""
        return self.root.walk("")

    def _parent(self, path: str, index: int) -> tuple[Node, str]:
        parts = _parts(path)
        node = self.root
        for part in parts[:-1]:
            child = node.children.get(part)
            if child is None or child.kind != "dir":
                child = node.children[part] = Node("dir", 0, index, index)
            node = child
        return node, parts[-1]

    def _put(self, e: Entry, index: int, changes: list[Change]) -> None:
        parent, name = self._parent(e.path, index)
        old = parent.children.get(name)
        if old is None:
            parent.children[name] = Node(e.kind, e.size, index, index, e)
            changes.append(Change(e.path, "added", e.kind, e.size))
            return
        if old.layer == index:  # named twice in one layer (or an implied parent): last wins
            old.kind, old.size, old.entry = e.kind, e.size, e
            if e.kind != "dir":
                old.children = {}
            return
        keep_children = e.kind == "dir" and old.kind == "dir"
        if not keep_children and old.children:
            changes.append(Change(e.path, "removed", old.kind, 0, old.layer, old.total()))
            old.children = {}
        if _same(old.entry, e) and keep_children:
            old.entry = e
            return
        changes.append(Change(e.path, "modified", e.kind, e.size, old.layer, old.size))
        old.kind, old.size, old.layer, old.entry = e.kind, e.size, index, e

    def _remove(self, path: str, index: int, changes: list[Change]) -> None:
        parent, name = self._parent(path, index)
        old = parent.children.pop(name, None)
        if old is not None:
            changes.append(Change(path, "removed", old.kind, 0, old.layer, old.total()))

    def _empty(self, path: str, index: int, changes: list[Change]) -> None:
        """An opaque directory: what lower layers put under it goes; this layer's stays."""
        node = self.get(path)
        if node is None:
            return
        _drop_lower(node, path, index, changes)


def _drop_lower(node: Node, path: str, index: int, changes: list[Change]) -> None:
    for name in list(node.children):
        child = node.children[name]
        child_path = f"{path}/{name}" if path else name
        if child.layer == index and child.kind == "dir":
            _drop_lower(child, child_path, index, changes)
        elif child.layer != index:
            del node.children[name]
            changes.append(Change(child_path, "removed", child.kind, 0, child.layer,
                                  child.total()))


def _same(a: Entry | None, b: Entry) -> bool:
    return a is not None and (a.kind, a.mode, a.uid, a.gid, a.link) == (
        b.kind, b.mode, b.uid, b.gid, b.link)


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]
