"""The no-change fast path of ``build``: a rebuild whose inputs are all as they were when
the same build last ran tags the image that build made, without parsing the Dockerfile,
planning steps or importing the engine.

After a full build, a memo is kept under ``ROOT/build/fastpath``, named by a hash of the
options and the Dockerfile's (and ignore files') bytes. It holds a stat signature of every
entry in the context (mode, size, mtime, ctime, inode, owner: more than the file-hash
cache trusts), the base images' digests, the cache keys the build used and the image it
made. A rebuild takes the fast path only if all of these still hold and every cache
record, layer and the image are still there; anything else, or any option the memo cannot
vouch for (remote sources, outputs, push, cache import/export, named contexts, --pull,
--no-cache, build warnings), goes the full way, which gives the same image.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.builder.cache.records import BuildCache
from wharfie.builder.result import BuildEvent, BuildResult, emit_export
from wharfie.errors import WharfieError
from wharfie.fs.atomic import atomic_write
from wharfie.oci.digest import Digest
from wharfie.oci.reference import parse_reference
from wharfie.oci.timestamps import source_date_epoch

if TYPE_CHECKING:
    from wharfie.builder.options import BuildOptions
    from wharfie.images.imagestore import ImageStore
    from wharfie.oci.reference import Reference
    from wharfie.transports.registry.client import RegistryOptions

MEMO_DIR = Path("build") / "fastpath"
MEMOS = 512  # memos kept of each kind (the newest written): builds, and command lines
FAST_PATH_TEXT = "[fast path] no input changed since the last build"
# ADD may fetch a URL or a git repository, whose content the memo cannot vouch for.
_ADD = re.compile(rb"^\s*(onbuild\s+)?add\s", re.IGNORECASE | re.MULTILINE)
# Options left out of the memo's name: they do not change the image (tags are applied by
# either path; the fast path is not taken with an iidfile or metadata file).
_NOT_KEYED = ("tags", "iidfile", "metadata_file", "explain_cache", "jobs", "context_tar")
# Options this module has been taught about; any other one set sends the build the full way.
_KNOWN = {"context", "context_tar", "dockerfile_text", "dockerfile", "tags", "build_args",
          "target", "labels", "no_cache", "no_cache_filter", "pull", "squash", "platform",
          "network", "secrets", "ssh", "outputs", "cache_from", "cache_to", "build_contexts",
          "add_hosts", "shm_size", "compression", "iidfile", "metadata_file", "push",
          "explain_cache", "epoch", "jobs"}


def build(images: ImageStore, options: BuildOptions, *, registries: RegistryOptions | None = None,
          emit: Callable[[BuildEvent], None] | None = None,
          invocation: Invocation | None = None) -> BuildResult:
    """``wharfie build``: the fast path when nothing changed, else the full build (whose
    inputs are then remembered, and ``invocation`` with them). Arguments as
    ``pipeline.build``."""
    inputs = _Inputs.of(images.root, options)
    if inputs is not None and invocation is not None:
        inputs = invocation.inputs_like(inputs)
    if inputs is not None:
        result = inputs.answer(images, emit)
        if result is not None:
            if invocation is not None:
                invocation.save(images.root, inputs, options)
            return result
    from wharfie.builder.pipeline import build as full_build

    # signed before the build reads the context (by ``answer`` already, if there was a
    # memo to check): a file changed meanwhile then differs
    signature = None
    if inputs is not None:
        with contextlib.suppress(OSError):  # an unreadable context: the full path says so
            signature = inputs.signature
    steps = _StepLog(emit)
    result = full_build(images, options, registries=registries, emit=steps)
    if inputs is not None and signature is not None and \
            inputs.remember(images, result, signature, steps.replay()) and invocation is not None:
        invocation.save(images.root, inputs, options)
    return result


class Invocation:
    """A caller's name for one exact way of asking for a build (the CLI: a hash of its
    command line, working directory and environment), with a note of its own (how it shows
    progress). Saved beside the memo of a build the fast path can vouch for, it lets the
    caller repeat that build's fast path by name alone (``recall``, ``rebuild``), before it
    has parsed anything into ``BuildOptions``, and, when something changed, run the build
    with the options it was given last time (``options``)."""

    def __init__(self, key: str, note: dict | None = None) -> None:
        self.key, self.note = key, note or {}
        self.recipe: dict | None = None
        self.checked: _Inputs | None = None  # what ``rebuild`` read (its context signed)
        self._options: dict | None = None  # the saved BuildOptions, as fields

    @staticmethod
    def _path(root: Path, key: str) -> Path:
        return root / MEMO_DIR / "commands" / f"{key}.json"

    @classmethod
    def recall(cls, root: Path, key: str) -> Invocation | None:
        """The invocation saved under ``key``, if any."""
        try:
            saved = json.loads(cls._path(root, key).read_bytes())
            invocation = cls(key, dict(saved["note"]))
            invocation.recipe = dict(saved["recipe"])
            invocation._options = dict(saved["options"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return invocation

    def save(self, root: Path, inputs: _Inputs, options: BuildOptions) -> None:
        """Remember that this invocation asks for the build of ``inputs``, with ``options``
        (not one whose Dockerfile came as text: there is no file to read it again from)."""
        if inputs.recipe["dockerfile"] is not None:
            # plain values: the fast path takes no context stream and no file to write
            given = asdict(options)
            self._path(root, self.key).parent.mkdir(parents=True, exist_ok=True)
            _keep(self._path(root, self.key), json.dumps(
                {"recipe": inputs.recipe, "note": self.note, "options": given},
                default=str).encode())

    def options(self) -> BuildOptions | None:
        """The options this invocation was built with last time; None if not recalled, or
        saved by a wharfie whose options differ."""
        if self._options is None:
            return None
        from wharfie.builder.options import BuildOptions

        try:
            return BuildOptions(**self._options)
        except TypeError:
            return None

    def rebuild(self, images: ImageStore,
                emit: Callable[[BuildEvent], None] | None = None) -> BuildResult | None:
        """The recalled build's fast path: its image tagged and its steps shown if nothing
        it read has changed, else None (nothing shown, nothing tagged)."""
        try:
            inputs = _Inputs.from_recipe(images.root, self.recipe)
        except (KeyError, TypeError):  # a recipe not of this version's making
            return None
        self.checked = inputs
        return inputs.answer(images, emit) if inputs is not None else None

    def inputs_like(self, inputs: _Inputs) -> _Inputs:
        """``inputs`` as ``rebuild`` read them already, if it read the same (then the full
        build that follows a miss keeps the signature it took: one walk of the context)."""
        checked = self.checked
        if checked is not None and checked.memo == inputs.memo and \
                checked.recipe == inputs.recipe:
            return checked
        return inputs


class _StepLog:
    """Passes a full build's events on, noting each step's title and how a rebuild that
    changes nothing would end it: FROM ``done``, a layer step ``CACHED``."""

    def __init__(self, emit: Callable[[BuildEvent], None] | None) -> None:
        self.emit, self.steps = emit, {}

    def __call__(self, event: BuildEvent) -> None:
        if event.kind == "step":
            self.steps[event.step] = [event.text, None]
        elif event.kind in ("cached", "done") and event.step in self.steps:
            self.steps[event.step][1] = "cached" if event.kind == "cached" or event.text \
                else "done"
        if self.emit is not None:
            self.emit(event)

    def replay(self) -> list[tuple[str, str]]:
        """The steps a cached rebuild shows, in order: no pulls, no export."""
        return [(text, end) for _, (text, end) in sorted(self.steps.items())
                if end is not None and not text.startswith("[internal]")
                and text != "exporting to image"]


def _replay(emit: Callable[[BuildEvent], None], steps: list[tuple[str, str]]) -> None:
    """What the full path prints when every step is cached, without running it; the first
    step says why (shown as cache explanations are: ``--progress plain``)."""
    for n, (text, end) in enumerate(steps, 1):
        emit(BuildEvent("step", n, text))
        if n == 1:
            emit(BuildEvent("explain", n, FAST_PATH_TEXT))
        emit(BuildEvent("cached", n, "CACHED") if end == "cached" else BuildEvent("done", n, ""))


class _Inputs:
    """What one build reads, as far as the fast path can tell without parsing. The
    ``recipe`` says where to read it (context, Dockerfile, the options as JSON, tags)."""

    def __init__(self, root: Path, recipe: dict, key: str) -> None:
        self.memo = root / MEMO_DIR / f"{key}.json"
        self.recipe = recipe
        self.context, self.tags = Path(recipe["context"]), list(recipe["tags"])

    @classmethod
    def of(cls, root: Path, options: BuildOptions) -> _Inputs | None:
        """The inputs of a build that may take the fast path; None if it may not."""
        where = options.context
        if (where is None or options.context_tar is not None or options.outputs
                or options.push or options.cache_from or options.cache_to or options.pull
                or options.no_cache or options.no_cache_filter or options.build_contexts
                or options.iidfile or options.metadata_file or _unknown_set(options)):
            return None
        text = str(where)
        if any(s in text for s in ("://", "git@", ".git", "#")) or not os.path.isdir(text):
            return None  # a git URL (or what might be one): the full path decides
        context = Path(os.path.abspath(text))
        try:
            if options.dockerfile_text is not None:
                dockerfile, df_path = options.dockerfile_text.encode(), None
            else:
                df_path = os.path.abspath(options.dockerfile) if options.dockerfile else \
                    str(context / "Dockerfile")
                dockerfile = Path(df_path).read_bytes()
            epoch = options.epoch if options.epoch is not None else \
                source_date_epoch(options.build_args.get("SOURCE_DATE_EPOCH"))
        except (OSError, WharfieError):
            return None  # the full path says what is wrong
        keyed = {k: v for k, v in asdict(options).items() if k not in _NOT_KEYED}
        keyed.update(context=str(context), epoch=epoch, dockerfile_text=None,
                     dockerfile=df_path)
        recipe = {"context": str(context), "dockerfile": df_path, "tags": list(options.tags),
                  "options": json.dumps(keyed, sort_keys=True, default=str)}
        return cls.from_recipe(root, recipe, dockerfile)

    @classmethod
    def from_recipe(cls, root: Path, recipe: dict,
                    dockerfile: bytes | None = None) -> _Inputs | None:
        """The inputs ``recipe`` names, as they are now (``dockerfile``: its bytes, when
        it came as text); None if the Dockerfile cannot be read or may ADD remote sources."""
        df_path = recipe["dockerfile"]
        if dockerfile is None:
            try:
                dockerfile = Path(df_path).read_bytes()
            except OSError:
                return None
        if _ADD.search(dockerfile):
            return None
        h = hashlib.sha256(recipe["options"].encode())
        h.update(b"\0" + dockerfile)
        ignores = [Path(recipe["context"]) / ".dockerignore"]
        if df_path is not None:
            ignores.insert(0, Path(df_path + ".dockerignore"))
        for path in ignores:
            with contextlib.suppress(OSError):
                h.update(b"\0" + str(path).encode() + b"\0" + path.read_bytes())
        return cls(root, recipe, h.hexdigest())

    @cached_property
    def signature(self) -> str:
        """The context's ``context_signature``, taken when first asked for (a walk of the
        whole context: once per build, however often it is asked)."""
        return context_signature(self.context)

    def answer(self, images: ImageStore,
               emit: Callable[[BuildEvent], None] | None) -> BuildResult | None:
        """The fast path's result, its steps shown, if it can vouch for it; else None."""
        names = [parse_reference(t) for t in self.tags]  # bad names fail as the full path's
        reused = self.reuse(images, names)
        if reused is None:
            return None
        result, steps = reused
        if emit is not None:
            _replay(emit, steps)
            emit_export(emit, len(steps) + 1, result.image_id, names)
        return result

    def reuse(self, images: ImageStore,
              names: list[Reference]) -> tuple[BuildResult, list[tuple[str, str]]] | None:
        """The memo's image, tagged ``names``, and the steps to show, if everything it was
        made from is as it was."""
        try:
            memo = json.loads(self.memo.read_bytes())
        except (OSError, ValueError):
            return None
        try:
            if memo.get("context") != self.signature:
                return None
            for name, digest in memo["bases"].items():
                if str(images.resolve(name).digest) != digest:
                    return None
            if not self._cached(images, memo["keys"]):
                return None
            manifest = Digest(memo["manifest"])
            image = images.get(manifest)
            blobs = [image.manifest.config, *image.manifest.layers]
            if str(image.id) != memo["image_id"] or not all(
                    images.content.exists(d.digest) for d in blobs):
                return None
        except (OSError, KeyError, TypeError, ValueError, WharfieError):
            return None
        for name in names:
            images.tag(name, manifest)
        steps = [tuple(s) for s in memo.get("steps", [])]
        return BuildResult(manifest, image.id, [], steps=len(steps)), steps

    def remember(self, images: ImageStore, result: BuildResult, signature: str,
                 steps: list[tuple[str, str]]) -> bool:
        """Keep what this full build read (``signature``: its context before it ran) and
        made, if the fast path can vouch for it; whether it was kept."""
        if result.warnings or result.checks:
            return False  # the fast path would have to say them again
        try:
            for name in result.base_images:
                if images.resolve(name).config.config.get("OnBuild"):
                    return False  # triggers may ADD from the network
            memo = {"context": signature, "bases": result.base_images,
                    "keys": result.cache_keys, "manifest": str(result.manifest_digest),
                    "image_id": str(result.image_id), "steps": steps}
        except (OSError, WharfieError):
            return False
        self.memo.parent.mkdir(parents=True, exist_ok=True)
        _keep(self.memo, json.dumps(memo).encode())
        return True

    @staticmethod
    def _cached(images: ImageStore, keys: list[str]) -> bool:
        """Every cache record the build used is still there (its layer too): a pruned one
        would be rebuilt, with a new creation time."""
        cache = BuildCache(images.root / "build", images.content)
        try:
            return all(cache.get(k) is not None for k in keys)
        finally:
            cache.close()


def _keep(path: Path, data: bytes) -> None:
    """Write a memo (unless it says so already), keeping the ``MEMOS`` newest written in its
    directory: command lines differ in their environment (a CI job's ID), so memos would
    otherwise pile up."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    atomic_write(path, data, sync=False)  # a memo is checked before it is believed
    memos = []
    with os.scandir(path.parent) as it:
        for e in it:
            if e.name.endswith(".json"):
                with contextlib.suppress(FileNotFoundError):  # trimmed by another build
                    memos.append((e.stat(follow_symlinks=False).st_mtime_ns, e.path))
    for _, old in sorted(memos)[:max(0, len(memos) - MEMOS)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(old)


def _unknown_set(options: BuildOptions) -> bool:
    """An option this module does not know is set: it may do work the memo cannot."""
    return any(f.name not in _KNOWN and getattr(options, f.name) != _default(f)
               for f in fields(options))


def _default(f: Field) -> object:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def context_signature(context: Path) -> str:
    """A hash of every entry under ``context`` with its lstat: any change to a file's
    content, type, mode or owner (or an added or removed file) changes it."""
    h = hashlib.sha256()
    stack = [str(context)]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            st = e.stat(follow_symlinks=False)
            h.update(f"{e.path}\0{st.st_mode}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:"
                     f"{st.st_ino}:{st.st_uid}:{st.st_gid}\n".encode())
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
    return h.hexdigest()
