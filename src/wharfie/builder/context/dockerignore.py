"""``.dockerignore`` matching with moby/patternmatcher's exact semantics.

gitignore-style libraries differ from Docker on ``**``, leading ``/`` and
exceptions, so this is a line-for-line reading of patternmatcher and of
moby's ignorefile reader, not an approximation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import WharfieError

_BOM = "\ufeff"
_ESCAPE = set(".+()|{}$")


class PatternError(WharfieError):
    """A .dockerignore pattern that Go's filepath.Match would reject."""


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on slash paths (``posixpath.normpath`` keeps ``//``; Go doesn't)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _validate(pattern: str) -> None:
    """Reject what Go's filepath.Match reports as ErrBadPattern."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise PatternError(f"syntax error in pattern {pattern!r}: trailing backslash")
            i += 2
            continue
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            first = True
            while True:
                if i >= n:
                    raise PatternError(f"syntax error in pattern {pattern!r}: unclosed '['")
                if pattern[i] == "]" and not first:
                    i += 1
                    break
                _, i = _class_char(pattern, i)
                if i < n and pattern[i] == "-":
                    _, i = _class_char(pattern, i + 1)
                first = False
            continue
        i += 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise PatternError(f"syntax error in pattern {pattern!r}: bad character class")
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise PatternError(f"syntax error in pattern {pattern!r}: trailing backslash")
    return pattern[i], i + 1


@dataclass
class Pattern:
    """One cleaned .dockerignore line and how it matches: exactly, by prefix or suffix, or by
    ``regex`` (built when the pattern is made)."""

    cleaned: str
    exclusion: bool
    kind: str = ""
    regex: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        reg, kind = "^", "exact"
        p, i, n = self.cleaned, 0, len(self.cleaned)
        pos = 0
        while i < n:
            ch = p[i]
            i += 1
            if ch == "*":
                if i < n and p[i] == "*":
                    i += 1
                    if i < n and p[i] == "/":
                        i += 1
                    if i >= n:
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg += ".*"
                            kind = "regexp"
                    else:
                        reg += "(.*/)?"
                        kind = "regexp"
                    if pos == 0:
                        kind = "suffix"
                else:
                    reg += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                reg += "[^/]"
                kind = "regexp"
            elif ch in _ESCAPE:
                reg += "\\" + ch
            elif ch == "\\":
                if i < n:
                    reg += re.escape(p[i])
                    i += 1
                    kind = "regexp"
                else:
                    reg += "\\\\"
            elif ch in "[]":
                reg += ch
                kind = "regexp"
            else:
                reg += ch
            pos += 1
        self.kind = kind
        if kind == "regexp":
            self.regex = re.compile(reg + r"\Z", re.DOTALL)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return bool(self.regex.match(path))


class PatternMatcher:
    """Ordered include/exception patterns; ``excludes(path)`` as MatchesOrParentMatches."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise PatternError('illegal exclusion pattern: "!"')
                p = p[1:]
            _validate(p)
            self.patterns.append(Pattern(p, exclusion))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excludes(self, path: str) -> bool:
        """True if ``path`` (slash-separated, relative) or one of its parents is ignored."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = path.rpartition("/")[0] or "."
        parents = parent.split("/") if parent != "." else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched


    def hides(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` is left out of the context, as moby's and fsutil's walkers send
        it: an ignored entry is, unless it is a directory that a later ``!`` pattern could
        reach into; that one is sent, and what is inside is judged entry by entry."""
        if not self.excludes(path):
            return False
        if not is_dir:
            return True
        inside = go_clean(path) + "/"
        return not any(p.exclusion and (p.cleaned + "/").startswith(inside)
                       for p in self.patterns)


def read_ignore_file(text: str) -> list[str]:
    """Patterns from .dockerignore text, normalized as moby's ignorefile.ReadAll does."""
    out: list[str] = []
    for n, line in enumerate(text.splitlines()):
        if n == 0:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def load_for(context: Path, dockerfile: Path | None = None) -> PatternMatcher:
    """The matcher for a build: ``<Dockerfile>.dockerignore`` beside the Dockerfile wins over
    ``<context>/.dockerignore``, as BuildKit does."""
    candidates = []
    if dockerfile is not None:
        candidates.append(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    candidates.append(context / ".dockerignore")
    for c in candidates:
        if c.is_file():
            return PatternMatcher(read_ignore_file(c.read_text(errors="replace")))
    return PatternMatcher([])
