"""The import graph of src/wharfie: no cycles, and no import up the layer order.

The graph is read with ``ast`` from the source (module-level and function-level imports
alike, since a lazy import is still a dependency), never by importing it. The order is
LAYERS below; docs/architecture.md explains it. A failure prints every offending edge with
its file and line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "wharfie"

# Lowest first. A module may import from its own layer and the ones before it, never after.
# Each entry names a module or a package (then every module under it); the longest match
# wins, so ``transports.base`` sits below ``images`` while the rest of ``transports`` is above.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "units", "paths", "fs", "events", "lazy", "parallel"),  # 1 no wharfie imports
    ("oci",),                                        # 2 digests, references, manifests, configs
    ("content",),                                    # 3 the blob store
    ("layers",),                                     # 4 tar layers: write, apply, diff, compress
    ("dockerfile",),                                 # 5 parser, lint (pure)
    ("transports.base",),                            # 6 the copy loop protocol
    ("images",),                                     # 7 the local image store
    ("transports",),                                 # 8 moving images; the registry client
    ("snapshots", "runtime", "imagefs"),             # 9 filesystems: containers', runc, images'
    ("containers",),                                 # 9b containers: monitor, lifecycle, volumes
    ("analysis", "security", "signing"),             # 10 reading and vouching for images
    ("builder",),                                    # 11 the build engine
    ("server",),                                     # 12 the registry server
    ("testing",),                                    # 13 image factory for tests and benches
    ("api", ""),                                     # 14 Client; ``wharfie`` re-exports it
    ("cli", "__main__"),                             # 15 flags in, one api call, rendering out
]

# Edges allowed against the order, each with the reason it is right. Keep this short.
EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        return (f"{self.path.relative_to(SRC.parent)}:{self.line}: {self.importer} "
                f"(layer {layer_name(self.importer)}) imports {self.imported} "
                f"(layer {layer_name(self.imported)})")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_modules(module: str, path: Path, node: ast.AST, known: dict[str, Path]) -> list[str]:
    """The package modules one import statement loads: ``from a import b`` is a.b when b is
    a module, else a; relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([base] if base else []))
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in known else base)
    return [m for m in dict.fromkeys(out) if m in known]


@cache
def imports_anything(path: Path) -> bool:
    """Does the module import any other (``__future__`` aside)?"""
    return any(isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom)
                                              and n.module != "__future__")
               for n in ast.walk(ast.parse(path.read_text(), str(path))))


def loaded_by(target: str, known: dict[str, Path]) -> list[str]:
    """What importing ``target`` runs that can import further: the ``__init__`` of each
    package above it (``import a.b.c`` runs ``a/b/__init__.py`` first, and whatever that
    imports), then ``target``."""
    parts = target.split(".")
    above = (".".join(parts[:n]) for n in range(2, len(parts)))
    return [m for m in above if m in known and imports_anything(known[m])] + [target]


def edges() -> list[Edge]:
    """Every import of one package module by another, the packages above it included (a
    package's own ``__init__`` aside: a module importing its parent package is not a
    dependency on a sibling)."""
    known = modules()
    out = []
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in imported_modules(module, path, node, known):
                for loaded in loaded_by(target, known):
                    if loaded != module and not module.startswith(loaded + "."):
                        out.append(Edge(module, loaded, path, node.lineno))
    return out


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest entry naming ``module`` or a package above it."""
    rel = module.removeprefix(PACKAGE).removeprefix(".")
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if name == "" and rel == "":
                return i
            if name and (rel == name or rel.startswith(name + ".")) and len(name) > best_len:
                best, best_len = i, len(name)
    return best


def layer_name(module: str) -> str:
    i = layer_of(module)
    return "?" if i is None else f"{i + 1} of {len(LAYERS)}: {', '.join(n or PACKAGE for n in LAYERS[i])}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_has_a_layer():
    missing = sorted(m for m in modules() if layer_of(m) is None)
    assert not missing, "modules with no place in LAYERS (add their package):\n" + \
        "\n".join(missing)


def test_no_import_cycles():
    all_edges = edges()
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for e in all_edges:
        graph[e.importer].add(e.imported)
    report = []
    for component in cycles(graph):
        members = set(component)
        report.append("cycle: " + " <-> ".join(component))
        report += [f"  {e}" for e in all_edges
                   if e.importer in members and e.imported in members]
    assert not report, "\n".join(report)


def goes_up(edge: Edge) -> bool:
    """An import of a later layer (modules with no layer are test_every_module_has_a_layer's)."""
    low, high = layer_of(edge.importer), layer_of(edge.imported)
    return low is not None and high is not None and low < high


def test_imports_follow_the_layer_order():
    upward = [e for e in edges() if goes_up(e) and (e.importer, e.imported) not in EXCEPTIONS]
    assert not upward, f"{len(upward)} imports go up the layer order:\n" + \
        "\n".join(str(e) for e in upward)


def test_exceptions_are_still_needed():
    """An exception whose import is gone, or that no longer goes up, is deleted, so the list
    stays honest."""
    upward = {(e.importer, e.imported) for e in edges() if goes_up(e)}
    stale = sorted(set(EXCEPTIONS) - upward)
    assert not stale, f"exceptions no longer needed: {stale}"


def test_the_checker_sees_cycles_and_upward_imports():
    """The helpers catch what they must: a two-module cycle, an upward edge, and the
    packages an import runs on the way (a cycle through a package's ``__init__``)."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    known = modules()
    assert loaded_by("wharfie.builder.context.tree", known) == [
        "wharfie.builder", "wharfie.builder.context", "wharfie.builder.context.tree"]
    assert loaded_by("wharfie.transports.base", known) == ["wharfie.transports.base"]
    assert layer_of("wharfie.oci.image") < layer_of("wharfie.layers.compression")
    assert layer_of("wharfie.transports.base") < layer_of("wharfie.images.imagestore") \
        < layer_of("wharfie.transports.registry.client")
    assert layer_of("wharfie") < layer_of("wharfie.cli.main")
