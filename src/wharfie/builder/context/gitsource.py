"""Git sources, as BuildKit takes them: ``ADD <repo.git> /dst`` and ``build <repo.git>``.

A git source is ``git://``, ``ssh://`` or ``git@host:path``, or an ``http(s)`` URL whose
path ends in ``.git``, with an optional ``#ref`` or ``#ref:subdir``. The ``git`` command
fetches the one commit (shallow when the server can), with its submodules; the commit
ID keys the cache, so an unchanged branch is never copied twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import InvalidInput, WharfieError

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./+-]*")


class GitError(WharfieError):
    """A git source could not be fetched."""


@dataclass(frozen=True)
class GitRef:
    remote: str
    ref: str | None
    subdir: str

    @property
    def label(self) -> str:
        return self.remote + (f"#{self.ref}" if self.ref else "")


def is_git_url(source: str) -> bool:
    if source.startswith(("git://", "ssh://", "git@")):
        return True
    if source.startswith(("http://", "https://")):
        return source.partition("#")[0].rstrip("/").endswith(".git")
    return False


def parse_git_url(source: str) -> GitRef:
    remote, _, fragment = source.partition("#")
    ref, _, subdir = fragment.partition(":")
    if ref and not _REF.fullmatch(ref):  # never an option to git (--upload-pack=...)
        raise InvalidInput(f"{source}: {ref!r} is not a branch, tag or commit name")
    subdir = subdir.strip("/")
    if ".." in subdir.split("/"):
        raise InvalidInput(f"{source}: the subdirectory may not leave the repository")
    return GitRef(remote, ref or None, subdir)


def resolve(ref: GitRef) -> str:
    """The commit ``ref`` names now (``git ls-remote``): the cache key, known before any
    fetch, so a cached step fetches nothing."""
    want = ref.ref or "HEAD"
    if _COMMIT.fullmatch(want):
        return want
    found = dict(reversed(line.split("\t", 1)) for line in
                 _git(Path(tempfile.gettempdir()), "ls-remote", ref.remote, want).splitlines()
                 if "\t" in line)
    for name in (want, f"refs/tags/{want}^{{}}", f"refs/tags/{want}", f"refs/heads/{want}"):
        if name in found:
            return found[name]
    raise GitError(f"{ref.label}: no branch or tag {want!r} in the repository")


def fetch(ref: GitRef, dest: Path, *, keep_git_dir: bool = False,
          expect: str | None = None) -> str:
    """Check out ``ref`` into the new directory ``dest``; returns the commit ID (which must
    be ``expect``, if given: the ref may have moved since it was resolved)."""
    dest.mkdir(parents=True)
    _git(dest, "init", "-q")
    _git(dest, "remote", "add", "origin", ref.remote)
    want = ref.ref or "HEAD"
    try:  # one commit is all a build needs
        _git(dest, "fetch", "-q", "--depth", "1", "--no-tags", "origin", want)
    except GitError as e:
        if "shallow" not in str(e) and "dumb" not in str(e):
            raise
        _git(dest, "fetch", "-q", "--no-tags", "origin", want)  # a server without shallow
    _git(dest, "checkout", "-q", "--detach", "FETCH_HEAD")
    if (dest / ".gitmodules").exists():
        _git(dest, "submodule", "update", "-q", "--init", "--recursive", "--depth", "1")
    commit = _git(dest, "rev-parse", "HEAD").strip()
    if expect is not None and commit != expect:
        raise GitError(f"{ref.label} moved from {expect[:12]} to {commit[:12]} while it was "
                       "fetched: build again")
    if not keep_git_dir:
        shutil.rmtree(dest / ".git")
    return commit


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_ASKPASS": "true"}
    try:
        res = subprocess.run(["git", "-c", "advice.detachedHead=false",
                              "-c", "protocol.file.allow=never", *args], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise GitError("git sources need the git command, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took more than 10 minutes") from None
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        raise GitError(f"git {args[0]} failed: {lines[-1] if lines else res.returncode}")
    return res.stdout
