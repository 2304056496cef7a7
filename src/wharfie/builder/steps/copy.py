"""COPY and ADD: files from the context, a stage, an image, a URL or a git repository."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from wharfie.builder.chmod import ModeSpec
from wharfie.builder.context import checksum_tree
from wharfie.builder.filecopy import CopyError, CopyOptions, copy_sources, plan_copy
from wharfie.builder.request import StageState
from wharfie.builder.steps.base import Job
from wharfie.dockerfile import instructions as ins
from wharfie.errors import DigestMismatch, WharfieError
from wharfie.layers.writer import Planned
from wharfie.runtime import resolve_user


def copy(job: Job, st: StageState, i: ins.Instruction, args: dict[str, str | None],
         label: str) -> None:
    """Copy the sources into the stage as one layer, keyed by their checksum."""
    assert isinstance(i, ins.Copy)
    is_add = isinstance(i, ins.Add)
    word = "ADD" if is_add else "COPY"
    chmod = ModeSpec(i.chmod) if i.chmod else None
    # BuildKit's history names the sources and the destination, not --chown or --chmod
    created_by = " ".join([word] + (["--parents"] if i.parents else [])
                          + i.sources + [c.path for c in i.contents] + [i.dest])
    title = f"[{label}] {word} {' '.join(i.flags + i.sources)} {i.dest}"
    with contextlib.ExitStack() as stack:
        scratch = job.root / "build" / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        sources = list(i.sources)
        ignore = None
        git_fetch = None
        files: dict[str, str] = {}
        # a COPY from a directory context: its layer is written straight from the walk
        walked: list | None = [] if not is_add and not i.chown and not i.parents else None
        from_stage = bool(i.from_ and i.from_.lower() not in job.named_dirs) and not i.contents
        if i.contents:  # COPY <<EOF /path: the heredocs are the sources
            src_root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)))
            for c in i.contents:
                (src_root / c.path).write_text(c.data)
                os.chmod(src_root / c.path, 0o644)
            sources = [c.path for c in i.contents]
            digest = checksum_tree(src_root, sources, None, i.exclude, job.hashes)
        elif from_stage:  # a stage or an image: its files keep their owners
            src_root = job.source_root(i.from_)
            digest = checksum_tree(src_root, sources, None, i.exclude, job.hashes,
                                   with_modes=chmod is None, files=files)
        elif is_add and any(_is_git_url(s) for s in sources):
            from wharfie.builder.context import gitsource  # execute() fetches with it too

            if len(sources) != 1:
                raise CopyError(f"line {i.line}: ADD takes a git repository as its only "
                                "source")
            git = gitsource.parse_git_url(sources[0])
            commit = gitsource.resolve(git)
            if i.checksum and i.checksum != commit:
                raise DigestMismatch(f"ADD {git.label}: checksum mismatch: expected "
                                     f"{i.checksum}, got commit {commit}")
            checkout = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)))
            src_root = checkout / "repo" / git.subdir  # fetched only on a cache miss
            sources = ["."]
            digest = f"git:{commit}:{git.subdir}:{i.keep_git_dir}"  # a commit is its content
            git_fetch = (git, checkout / "repo", commit)
        elif is_add and any(_is_url(s) for s in sources):
            from wharfie.builder.context.fetch import fetch_url  # only ADD fetches URLs

            src_root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)))
            names = []
            for s in sources:
                if not _is_url(s):
                    raise CopyError("ADD: mixing URLs and local files is not supported")
                names.append(fetch_url(s, src_root, i.checksum))
            sources = names
            digest = checksum_tree(src_root, sources, None, i.exclude, job.hashes)
        else:  # the build context, or a named directory context (--build-context)
            ctx = job.named_dirs[i.from_.lower()] if i.from_ else job.req.context
            if ctx is None or ctx.root is None:
                raise CopyError(f"line {i.line}: {word} needs a build context "
                                "(the context was '-')")
            src_root, ignore = ctx.root, ctx.ignore
            digest = ctx.checksum(sources, i.exclude, with_modes=chmod is None, files=files,
                                  walked=walked)
        inputs = {"sources": digest, "dest": i.dest, "workdir": st.image.workdir,
                  "chown": i.chown, "chmod": i.chmod, "parents": i.parents,
                  "exclude": i.exclude, "link": i.link, "names": sources}
        extract = is_add and i.unpack is not False and \
            not any(_is_url(s) or _is_git_url(s) for s in i.sources)

        def execute(rootfs: Path, step_no: int) -> None:
            owner = None
            if i.chown:
                try:
                    u = resolve_user(rootfs, i.chown)
                except WharfieError as e:
                    raise CopyError(f"line {i.line}: {word} --chown={i.chown}: "
                                    f"{e.message}") from None
                owner = (u.uid, u.gid)
            opts = CopyOptions(chown=owner, chmod=chmod, parents=i.parents,
                               excludes=list(i.exclude), ignore=ignore,
                               extract_archives=extract, keep_owners=from_stage)
            if git_fetch is not None:  # ADD from git, on a cache miss
                ref, repo, commit = git_fetch
                gitsource.fetch(ref, repo, keep_git_dir=i.keep_git_dir, expect=commit)
                if not src_root.is_dir():
                    raise CopyError(f"ADD {ref.label}: no directory {ref.subdir!r} in it")
            copy_sources(src_root, sources, rootfs, i.dest, st.image.workdir, opts)

        plan = None
        if walked:
            def plan(parent: Path | None) -> list[Planned] | None:
                opts = CopyOptions(chmod=chmod, excludes=list(i.exclude), ignore=ignore)
                return plan_copy(walked, i.dest, st.image.workdir, opts, parent,
                                 time.time_ns())

        job.layer_step(st, word.lower(), inputs, created_by, title, execute, files, plan=plan)


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _is_git_url(s: str) -> bool:
    """``gitsource.is_git_url``; only ADD asks, so a COPY never loads the git code."""
    from wharfie.builder.context import gitsource

    return gitsource.is_git_url(s)
