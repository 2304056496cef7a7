"""Secrets in an image: every layer's text files, including those a later layer deleted
(the lower layer still ships them), and the config (ENV, labels, history ``created_by``).

Each finding names the layer and the Dockerfile step that wrote the file, the path, the
line and the credential masked. Binaries (a NUL byte in the first 8 KiB) and files over
``MAX_FILE_SIZE`` are skipped, as are known binary file types, without being read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from wharfie.imagefs import Entry, Tree, walk
from wharfie.oci.image import Image
from wharfie.security.secrets.rules import RULES, Rule, mask

MAX_FILE_SIZE = 10 << 20
_BINARY_SUFFIXES = (".so", ".a", ".o", ".pyc", ".gz", ".xz", ".bz2", ".zst", ".zip", ".jar",
                    ".whl", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".mo", ".db", ".deb",
                    ".woff", ".woff2", ".ttf", ".otf", ".pdf", ".wasm")

__all__ = ["MAX_FILE_SIZE", "RULES", "SecretFinding", "scan_config", "scan_secrets",
           "scan_text"]


@dataclass(frozen=True)
class SecretFinding:
    """One credential: ``layer`` is None for one found in the config (``path`` then says
    where: ``config:Env``, ``config:Labels``, ``config:history[3]``); ``removed_in`` the
    layer that deleted or replaced the file (it still ships in ``layer``)."""

    rule: str
    title: str
    severity: str
    path: str
    line: int
    match: str  # masked
    layer: int | None
    step: str
    removed_in: int | None = None


def scan_text(text: str, rules: Iterable[Rule] = RULES) -> Iterator[tuple[Rule, int, str]]:
    """(rule, line number, masked value) for each credential in ``text``; a value an
    earlier (more specific) rule found is not found again by a later one."""
    lowered = text.lower()
    taken: list[tuple[int, int]] = []
    for rule in rules:
        for m in rule.matches(text, lowered):
            start, end = m.span("secret")
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            yield rule, text.count("\n", 0, start) + 1, mask(m.group("secret"))


def readable(path: str) -> bool:
    """Whether a file is worth reading for secrets, by its name alone."""
    return not path.endswith(_BINARY_SUFFIXES)


def _file_findings(entry: Entry, layer: int, step: str) -> list[SecretFinding]:
    if entry.read is None or entry.size > MAX_FILE_SIZE or entry.size == 0:
        return []
    data = entry.read()
    if b"\0" in data[:8192]:
        return []
    text = data.decode("utf-8", errors="replace")
    return [SecretFinding(r.id, r.title, r.severity, entry.path, line, masked, layer, step)
            for r, line, masked in scan_text(text)]


def scan_layers(image: Image) -> list[SecretFinding]:
    """Every layer's files; a finding whose file a later layer removed or replaced
    carries that layer in ``removed_in``."""
    tree = Tree()
    findings: list[SecretFinding] = []
    for view in walk(image, want=readable):
        found: list[SecretFinding] = []

        def scanned(entries: Iterator[Entry], index: int = view.index,
                    step: str = view.created_by, out: list = found) -> Iterator[Entry]:
            for e in entries:
                if e.kind == "file":
                    out.extend(_file_findings(e, index, step))
                yield e

        tree.apply(view.index, scanned(view.entries()))
        findings = [_mark_removed(f, tree, view.index) for f in findings] + found
    return findings


def _mark_removed(f: SecretFinding, tree: Tree, index: int) -> SecretFinding:
    if f.removed_in is not None:
        return f
    node = tree.get(f.path)
    return f if node is not None and node.layer == f.layer else replace(f, removed_in=index)


def scan_config(image: Image) -> list[SecretFinding]:
    """ENV values, labels and the history's ``created_by`` (a ``RUN`` with a token on
    its command line keeps it there)."""
    config = image.config
    places: list[tuple[str, str, str]] = []
    places += [("config:Env", env, "") for env in config.config.get("Env") or []]
    places += [("config:Labels", f"{k}={v}", "") for k, v in config.labels.items()]
    places += [(f"config:history[{i}]", h.get("created_by", ""), h.get("created_by", ""))
               for i, h in enumerate(config.history)]
    return [SecretFinding(r.id, r.title, r.severity, where, 1, masked, None, step)
            for where, text, step in places for r, _, masked in scan_text(text)]


def scan_secrets(image: Image) -> list[SecretFinding]:
    """The config's findings, then the layers', in layer order."""
    return scan_config(image) + scan_layers(image)
