"""Efficiency and wasted bytes, counted as dive counts them, so the figures agree with
``dive --ci`` and CI thresholds carry over unchanged.

dive's rule (dive/filetree/efficiency.go, read and re-stated here):

- each layer is a tree of its tar entries; only its *leaves* count (an entry no other entry
  of the same layer lies under), opaque markers are not entries at all;
- a leaf's size is its tar header size (0 for directories, links and whiteouts), except a
  whiteout of what was a directory in the layers below, which weighs that whole subtree;
- per path (whiteouts named by the path they remove), add up every size seen (cumulative)
  and keep the smallest; efficiency = sum(smallest) / sum(cumulative), 1 when nothing counts;
- a path seen in two or more leaves is inefficient; wasted bytes = the sum of their
  cumulative sizes (so a file written twice counts both copies, as dive does);
- a layer's size is the sum of its entries' sizes; the user's share is every layer but the
  first, and wasted-user-percent = wasted / that share.

Where dive stops counting a layer at a whiteout of a path no lower layer has (a debug log
and the rest of that layer skipped), this counts the whiteout as 0 bytes and goes on.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from wharfie.imagefs import Entry, Tree


@dataclass(slots=True)
class PathUse:
    """Every leaf one path had across the layers: (layer, bytes)."""

    path: str
    uses: list[tuple[int, int]] = field(default_factory=list)

    @property
    def cumulative(self) -> int:
        return sum(n for _, n in self.uses)

    @property
    def smallest(self) -> int:
        return min(n for _, n in self.uses)


class Efficiency:
    """Fed one layer at a time, before the layer is stacked onto ``tree``."""

    def __init__(self) -> None:
        self.paths: dict[str, PathUse] = {}

    def add_layer(self, index: int, entries: list[Entry], below: Tree) -> None:
        """Count layer ``index`` (its entries) against ``below``, the layers under it."""
        for entry in _leaves(entries):
            if entry.kind == "whiteout":
                node = below.get(entry.path)
                size = node.total() if node is not None and node.kind == "dir" and \
                    node.entry is not None else 0
            else:
                size = entry.size
            use = self.paths.get(entry.path)
            if use is None:
                use = self.paths[entry.path] = PathUse(entry.path)
            use.uses.append((index, size))

    def score(self) -> float:
        total = sum(u.cumulative for u in self.paths.values())
        if total == 0:
            return 1.0
        return sum(u.smallest for u in self.paths.values()) / total

    def inefficient(self) -> list[PathUse]:
        """Paths seen more than once, biggest cumulative size first."""
        found = [u for u in self.paths.values() if len(u.uses) > 1]
        return sorted(found, key=lambda u: (-u.cumulative, u.path))

    def wasted_bytes(self) -> int:
        return sum(u.cumulative for u in self.paths.values() if len(u.uses) > 1)


def _leaves(entries: list[Entry]) -> list[Entry]:
    """The entries of one layer no other entry of it lies under (whiteouts are always
    leaves: dive keeps them as ``.wh.NAME`` nodes, apart from a NAME the layer adds)."""
    named: dict[tuple[str, bool], Entry] = {}
    parents: set[str] = set()
    for e in entries:
        if e.kind == "opaque":  # dive drops the marker but its directory exists
            named.setdefault((e.path, False), Entry(e.path, "dir", 0))
            continue
        named[(e.path, e.kind == "whiteout")] = e  # named twice: the last one wins
        parent = posixpath.dirname(e.path)
        while parent and parent not in parents:
            parents.add(parent)
            parent = posixpath.dirname(parent)
    return [e for (path, whiteout), e in named.items() if whiteout or path not in parents]
