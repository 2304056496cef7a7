"""``analyze(image)``: one walk over the layers gives dive's figures, the findings, the base
image's share and what the reports draw (biggest files, directory sizes).

The base image's share is the layers the FROM image already had. Which those are:

1. ``base=`` given (``--base IMAGE``): the diffIDs the two images share from the bottom;
2. else the manifest's ``org.opencontainers.image.base.digest`` annotation, when the
   local store holds that image;
3. else the image in the local store whose diffIDs are the longest proper prefix of this
   image's (an image built FROM a local one always has it);
4. else dive's rule: the first layer is the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wharfie.analysis.efficiency import Efficiency, PathUse
from wharfie.analysis.findings import Finding, Observations, find_all
from wharfie.imagefs import Change, Entry, ImageSource, Tree, walk
from wharfie.oci.image import Image

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore

BASE_ANNOTATION = "org.opencontainers.image.base.digest"
TOP_FILES = 20


@dataclass
class LayerReport:
    """One layer: dive's size (the sum of its entries), the blob's, its step and changes."""

    index: int
    digest: str
    diff_id: str | None
    size: int
    blob_size: int
    command: str
    history_index: int | None
    base: bool
    changes: list[Change] = field(repr=False, default_factory=list)
    entries: list[Entry] = field(repr=False, default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "modified": 0, "removed": 0}
        for c in self.changes:
            out[c.action] += 1
        return out


@dataclass
class Analysis:
    """Everything ``wharfie image analyze`` reports."""

    image: str
    digest: str
    layers: list[LayerReport]
    efficiency: float
    wasted_bytes: int
    inefficient: list[PathUse]
    findings: list[Finding]
    biggest_files: list[tuple[str, int, int]]  # path, bytes, layer
    directories: dict[str, int]  # directory (two levels deep) -> bytes in the final image
    base_layers: int
    base_name: str | None

    @property
    def size_bytes(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def user_size_bytes(self) -> int:
        """dive's user size: every layer but the first."""
        return sum(layer.size for layer in self.layers[1:])

    @property
    def wasted_user_percent(self) -> float:
        """dive's ratio (named percent, a fraction): wasted / user size."""
        if self.user_size_bytes == 0:
            return 0.0 if self.wasted_bytes == 0 else float("inf")
        return self.wasted_bytes / self.user_size_bytes

    @property
    def base_bytes(self) -> int:
        return sum(layer.size for layer in self.layers[:self.base_layers])

    @property
    def dockerfile_bytes(self) -> int:
        return self.size_bytes - self.base_bytes


def analyze(image: Image | ImageSource, *, name: str | None = None, base: Image | None = None,
            images: ImageStore | None = None) -> Analysis:
    """Walk ``image`` once and analyze it; ``images`` (the local store) lets the base image
    be found by its layers, ``base`` names it outright."""
    if isinstance(image, ImageSource):
        name, image = name or image.name, image.image
    tree, eff, obs = Tree(), Efficiency(), Observations()
    layers: list[LayerReport] = []
    for view in walk(image):
        entries = list(view.entries())
        eff.add_layer(view.index, entries, tree)
        changes = tree.apply(view.index, entries)
        step = view.history
        layers.append(LayerReport(view.index, str(view.digest),
                                  str(view.diff_id) if view.diff_id else None,
                                  sum(e.size for e in entries), view.size,
                                  step.created_by if step else "(missing)",
                                  step.index if step else None, False, changes, entries))
        obs.steps.append(step)
        obs.changes.append(changes)
    obs.final = list(tree.files())
    base_count, base_name = base_layers(image, base=base, images=images)
    for layer in layers[:base_count]:
        layer.base = True
    return Analysis(
        image=name or str(image.digest), digest=str(image.digest), layers=layers,
        efficiency=eff.score(), wasted_bytes=eff.wasted_bytes(), inefficient=eff.inefficient(),
        findings=find_all(obs, base_count), biggest_files=_biggest(obs),
        directories=_directories(obs), base_layers=base_count, base_name=base_name)


def base_layers(image: Image, *, base: Image | None = None,
                images: ImageStore | None = None) -> tuple[int, str | None]:
    """How many bottom layers came from the FROM image, and its name (rule: module doc)."""
    mine = [str(d) for d in image.config.diff_ids]
    if base is not None:
        return _common_prefix(mine, [str(d) for d in base.config.diff_ids]), str(base.digest)
    if images is not None:
        wanted = image.manifest.annotations.get(BASE_ANNOTATION)
        best: tuple[int, str | None] = (0, None)
        for stored in images.list(all=True):
            theirs = stored.diff_ids
            shared = _common_prefix(mine, theirs)
            if str(stored.digest) == wanted and shared:
                return shared, _name_of(stored)
            if shared == len(theirs) < len(mine) and shared > best[0]:
                best = (shared, _name_of(stored))
        if best[0]:
            return best
    return min(1, len(mine)), None


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _name_of(stored) -> str:
    return str(stored.repo_tags[0]) if stored.repo_tags else str(stored.digest)


def _biggest(obs: Observations) -> list[tuple[str, int, int]]:
    files = [(p, n.size, n.layer) for p, n in obs.final if n.kind == "file"]
    return sorted(files, key=lambda f: (-f[1], f[0]))[:TOP_FILES]


def _directories(obs: Observations, depth: int = 2) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path, node in obs.final:
        if node.kind != "file" or not node.size:
            continue
        parts = path.split("/")[:-1][:depth] or ["/"]
        key = "/".join(parts)
        sizes[key] = sizes.get(key, 0) + node.size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
