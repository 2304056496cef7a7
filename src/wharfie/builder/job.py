"""``Job``: one build's state and the scheduling of its stages.

A job resolves the Dockerfile, runs every stage once its dependencies are done
(independent ones side by side), and gives each instruction to its executor in
``steps``. ``_layer_step`` is where a step that makes a layer meets the cache.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wharfie.builder.cache import BuildCache, CacheRecord, explain_miss, step_key
from wharfie.builder.context import BuildContext, HashCache
from wharfie.builder.imageconfig import StageImage
from wharfie.builder.mounts import MountSource
from wharfie.builder.request import BuildRequest, StageState
from wharfie.builder.result import BuildError, BuildEvent
from wharfie.builder.steps import execute
from wharfie.dockerfile import instructions as ins
from wharfie.dockerfile.stages import (
    ResolvedStage,
    expand_instruction,
    parse_dockerfile,
    parse_triggers,
    resolve,
)
from wharfie.errors import NotFound, WharfieError
from wharfie.images.imagestore import ImageStore, StoredImage
from wharfie.layers.compression import open_layer
from wharfie.layers.writer import Planned, write_layer_to_store
from wharfie.oci.digest import Digest
from wharfie.oci.empty import for_platform
from wharfie.oci.image import BlobSource, Layer
from wharfie.oci.manifest import Descriptor
from wharfie.oci.platform import host_platform, parse_platform
from wharfie.oci.reference import parse_reference
from wharfie.oci.timestamps import rfc3339
from wharfie.snapshots import Snapshotter, chain_id

if TYPE_CHECKING:
    from wharfie.transports.registry.client import RegistryOptions

CACHE_PIN = "build-cache"  # image removal keeps layers the build cache still holds
Plan = Callable[[Path | None], list[Planned] | None]  # a step's layer, from its parent's root


class Workshop(Protocol):
    """What a job uses of the builder that runs it (``engine.Builder``): the store, the
    snapshots, the cache, and the step counter and lock its jobs share."""

    root: Path
    store: ImageStore
    snap: Snapshotter
    cache: BuildCache
    hashes: HashCache
    blobs: BlobSource
    emit: Callable[[BuildEvent], None]
    registries: RegistryOptions | None
    lock: threading.RLock

    def announce(self, text: str) -> int: ...


class Job:
    """One build: the request, the resolved stages and what they have produced so far."""

    def __init__(self, builder: Workshop, req: BuildRequest) -> None:
        self.builder, self.req = builder, req
        self.root, self.store, self.snap = builder.root, builder.store, builder.snap
        self.cache, self.hashes, self.emit = builder.cache, builder.hashes, builder.emit
        self.platform = parse_platform(req.platform) if req.platform else host_platform()
        self.external: dict[str, StoredImage] = {}
        self.secrets = {s.id: s for s in req.secrets}
        self.used_keys: list[str] = []
        ctx_root = req.context.root if req.context and req.context.root else "-"
        self.ident = f"{os.path.abspath(ctx_root)}|{req.dockerfile_name}"
        self.named_images = {k: v for k, v in req.named_contexts.items() if isinstance(v, str)}
        self.named_dirs = {k: v for k, v in req.named_contexts.items()
                           if isinstance(v, BuildContext)}
        self.results: dict[int, StageState] = {}
        self.stage_names: dict[str, int] = {}
        self.warnings: list[str] = []
        self.escape = "\\"
        self.proxy_env: dict[str, str] = {}
        self._explained = False
        self._cancelled = threading.Event()
        self._views: dict[str, Path] = {}

    @property
    def cancelled(self) -> threading.Event:
        """Set when the build ends early: running steps stop."""
        return self._cancelled

    def run(self) -> StageState:
        """Build every stage the target needs; the target's final state."""
        df = parse_dockerfile(self.req.dockerfile, self.req.dockerfile_name)
        if self.req.cache_from:  # the cache transfer code loads only for --cache-from
            from wharfie.builder.cache.transfer import import_from

            for src in self.req.cache_from:
                self.store.pin(import_from(self.cache, src, self.builder.registries),
                               CACHE_PIN)
        rb = resolve(df, self.req.target, build_args=self.req.build_args,
                     platform=self.platform, base_env=self._base_env,
                     named_contexts=set(self.req.named_contexts))
        self.escape = df.escape
        self.proxy_env = rb.proxy_env
        self.warnings = rb.warnings
        for w in rb.warnings:
            self.emit(BuildEvent("warning", 0, w))
        self.stage_names = {s.name: s.index for s in rb.stages if s.name}
        try:
            self._run_stages({s.index: s for s in rb.stages})
            return self.results[rb.target]
        finally:
            for chain in list(self._views):
                with contextlib.suppress(WharfieError, OSError):
                    self.snap.release(chain)
            self._views.clear()
            self.hashes.flush()

    def _run_stages(self, stages: dict[int, ResolvedStage]) -> None:
        """Run every stage once its dependencies are done; independent ones in parallel, at
        most ``jobs`` at a time, each in a thread of its own."""
        results = self.results
        pending = dict(stages)
        running: dict[int, threading.Thread] = {}
        finished: queue.SimpleQueue[tuple[int, StageState | BaseException]] = queue.SimpleQueue()

        def run_stage(i: int, stage: ResolvedStage) -> None:
            try:
                finished.put((i, self._run_stage(stage)))
            except BaseException as e:  # handed to the main thread, which raises it
                finished.put((i, e))

        with _joined(running), self._cancel_on_exit():
            while pending or running:
                ready = [i for i, s in pending.items() if all(d in results for d in s.depends_on)]
                for i in ready[:max(1, self.req.jobs) - len(running)]:
                    running[i] = threading.Thread(target=run_stage, args=(i, pending.pop(i)),
                                                  name=f"wharfie-stage-{i}")
                    running[i].start()
                if not running:
                    raise BuildError("stages wait on each other: the dependency graph has a cycle")
                # A bounded wait: a signal the kernel hands to a worker thread does not wake
                # a main thread blocked on a lock, so Ctrl-C would wait for the RUN to end.
                try:
                    i, outcome = finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                running.pop(i).join()
                if isinstance(outcome, BaseException):
                    raise outcome  # the stage's error: siblings stop
                results[i] = outcome

    @contextlib.contextmanager
    def _cancel_on_exit(self) -> Iterator[None]:
        """If the build ends early (a stage failed, Ctrl-C), stop the stages still running
        before the pool waits for them: their running RUN is killed."""
        try:
            yield
        except BaseException:
            self._cancelled.set()
            raise

    # -- one stage -------------------------------------------------------------------------

    def _run_stage(self, stage: ResolvedStage) -> StageState:
        label = f"stage-{stage.index}" if stage.name is None else stage.name
        state = self._base_state(stage)
        state.label = label
        state.inherited_args = dict(stage.inherited_args)
        triggers: list[ins.Instruction] = []
        if stage.base_stage is None and not self.is_scratch(stage.base):
            onbuild = (self.external[stage.base].config.config.get("OnBuild") or [])
            triggers = [expand_instruction(t, state.image.env_dict(), self.escape)
                        for t in parse_triggers(onbuild, stage.base)]
        todo = [(t, {}) for t in triggers] + [(s.instruction, s.args) for s in stage.steps]
        names = step_names(stage.name, [i for i, _ in todo])
        base = stage.base if stage.base_stage is not None or self.is_scratch(stage.base) \
            else str(parse_reference(self.named_images.get(stage.base.lower(), stage.base)))
        step = self.announce(f"[{next(names)}] FROM {base}")
        self.emit(BuildEvent("done", step, ""))
        for instruction, args in todo:
            if self._cancelled.is_set():
                raise BuildError(f"[{label}] cancelled: another stage failed")
            execute(self, state, instruction, args, next(names))
        return state

    def _base_state(self, stage: ResolvedStage) -> StageState:
        if stage.base_stage is not None:
            parent = self.results[stage.base_stage]
            image = StageImage.from_base(parent.image.doc, parent.image.created)
            image.cmd_set = False
            return StageState(image, list(parent.layers), parent.key, len(parent.layers))
        if self.is_scratch(stage.base):
            return StageState(StageImage(for_platform(self.platform), created=self.epoch_iso()),
                              [], step_key("", "scratch", platform=str(self.platform)))
        img = self.external_image(stage.base)
        layers = [(layer.descriptor, layer.diff_id) for layer in img.layers()]
        created = self.epoch_iso() or img.config.created
        return StageState(StageImage.from_base(img.config.doc, created), layers,
                          step_key("", "from", manifest=str(img.digest)), len(layers))

    def _base_env(self, name: str) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.is_scratch(name):
            return env
        for item in self.external_image(name).config.config.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    # -- base images -------------------------------------------------------------------------

    def external_image(self, name: str) -> StoredImage:
        """A base image: from the store, pulled when missing (or always, with ``--pull``)."""
        with self.builder.lock:
            if name not in self.external:
                if name.lower() in self.named_dirs:
                    raise BuildError(f"{name}: a directory build context serves COPY --from "
                                     "and RUN --mount from=, not FROM")
                ref = self.named_images.get(name.lower(), name)
                found = None
                if not self.req.pull:
                    with contextlib.suppress(NotFound):
                        found = self.store.resolve(ref)
                if found is not None and not self._platform_ok(found):
                    have = found.config.platform
                    raise BuildError(f"{ref}: the local image is for {have}, not "
                                     f"{self.platform} (pull that platform first)")
                self.external[name] = found or self._pull(ref)
            return self.external[name]

    def is_scratch(self, base: str) -> bool:
        """FROM scratch, or a name that --build-context maps to docker-image://scratch."""
        return self.named_images.get(base.lower(), base).lower() == "scratch"

    def _platform_ok(self, image: StoredImage) -> bool:
        have = image.config.platform
        return not have.os or self.platform.matches(have)

    def _pull(self, name: str) -> StoredImage:
        from wharfie.transports.pull import pull_image
        from wharfie.transports.registry.client import RegistryOptions

        ref = parse_reference(name)
        step = self.announce(f"[internal] load metadata for {ref}")
        try:
            pulled = pull_image(self.store, ref, self.builder.registries or RegistryOptions(),
                                platform=self.platform)
        except WharfieError as e:
            raise NotFound(f"{name}: base image not found in the local store, and pulling it "
                           f"failed: {e}") from None
        self.emit(BuildEvent("done", step, "DONE"))
        return pulled.image

    # -- what steps read -----------------------------------------------------------------------

    def mount_source(self, name: str) -> MountSource:
        """What ``RUN --mount from=name`` reads: a named context keeps its .dockerignore."""
        named = self.named_dirs.get(name.lower())
        if named is not None:
            return MountSource(named.root, named.ignore)  # type: ignore[arg-type]
        return MountSource(self.source_root(name))

    def source_root(self, name: str) -> Path:
        """The root filesystem of a stage (by name or index), a named build context or an
        image, for reading."""
        if name.lower() in self.named_dirs:
            return self.named_dirs[name.lower()].root  # type: ignore[return-value]
        idx = None if name.lower() in self.named_images else self.stage_names.get(name.lower())
        if idx is None and name.isdigit():
            idx = int(name)
        layers = self.results[idx].layers if idx is not None else \
            [(x.descriptor, x.diff_id) for x in self.external_image(name).layers()]
        view = self._view(layers)
        if view is None:
            empty = self.root / "build" / "empty"
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        return view

    # -- layers and the cache ------------------------------------------------------------------

    def layer_step(self, st: StageState, kind: str, inputs: dict, created_by: str, title: str,
                   action: Callable[[Path, int], None], files: dict | None = None, *,
                   buildkit_suffix: bool = True, plan: Plan | None = None) -> int:
        """Run (or reuse from the cache) one step that makes a layer, and record it.
        ``plan``, given the parent's root filesystem (None: empty), may return the layer's
        entries instead: then it is written straight from them, without a snapshot."""
        key = step_key(st.key, kind, **inputs)
        step_no = self.announce(title)
        started = time.monotonic()
        no_cache = self.req.no_cache or st.label in self.req.no_cache_filter
        record = None if no_cache else self.cache.get(key)
        ident = f"{self.ident}|{st.label}|{len(st.image.doc['history'])}|{kind}"
        previous = self.cache.remember(ident, {"parent": st.key, **inputs, "files": files})
        if record is not None:
            self.emit(BuildEvent("cached", step_no, "CACHED"))
        else:
            if not no_cache and not self._explained:
                self._explained = True
                why = explain_miss(previous, {"parent": st.key, **inputs, "files": files})
                self.emit(BuildEvent("explain", step_no, f"cache miss: {why}"))
            try:
                record = self._planned_layer(st, title, plan) if plan is not None else None
                record = record or self._make_layer(st, title, action, step_no)
            except WharfieError as e:
                self.emit(BuildEvent("error", step_no, e.message,
                                     time.monotonic() - started))
                raise
            self.cache.put(key, record)
            if record.layer is not None:
                self.store.pin([record.layer.digest], CACHE_PIN)
            self.emit(BuildEvent("done", step_no, "DONE", time.monotonic() - started))
        st.image.created = record.created
        suffix = " # buildkit" if buildkit_suffix else ""
        if record.layer is not None and record.diff_id is not None:
            st.layers.append((record.layer, record.diff_id))
            st.image.add_layer(record.diff_id)
            st.image.history(created_by + suffix, layer=True)
        else:
            st.image.history(created_by + suffix, layer=False)
        st.key = key
        with self.builder.lock:
            self.used_keys.append(key)
        return step_no

    def _make_layer(self, st: StageState, title: str, action: Callable[[Path, int], None],
                    step_no: int) -> CacheRecord:
        """Run ``action`` in a fresh snapshot of the stage and commit what it changed."""
        chain = self._ensure_chain(st.layers)
        skey = f"build-{os.urandom(8).hex()}"
        rootfs = self.snap.prepare(skey, chain, volatile=True)
        try:
            action(rootfs, step_no)
            commit = self.snap.commit(skey, self.store.content,
                                      compression=self.req.compression, epoch=self.req.epoch)
        except BaseException as e:
            self.snap.remove(skey)
            if isinstance(e, OSError):  # a full disk, a vanished file: say which step
                raise BuildError(f"{title}: {_os_error_text(e)}") from None
            raise
        layer = commit.layer  # kept even when empty: docker's BuildKit records every
        desc = Descriptor(layer.media_type, layer.digest, layer.size)  # RUN/COPY/WORKDIR layer
        return CacheRecord(self.epoch_iso() or rfc3339(time.time()), desc, layer.diff_id)

    def _planned_layer(self, st: StageState, title: str, plan: Plan) -> CacheRecord | None:
        """Write the layer ``plan`` lays out straight into the store; None if it cannot.
        No snapshot is made: a later step that needs this root filesystem extracts the
        layer then (``_ensure_chain``), and a last COPY never creates its files at all."""
        try:
            entries = plan(self._view(st.layers))
            if entries is None:
                return None
            layer = write_layer_to_store(entries, self.store.content,
                                         compression=self.req.compression, epoch=self.req.epoch)
        except OSError as e:  # a vanished file, a full disk: say which step
            raise BuildError(f"{title}: {_os_error_text(e)}") from None
        desc = Descriptor(layer.media_type, layer.digest, layer.size)
        return CacheRecord(self.epoch_iso() or rfc3339(time.time()), desc, layer.diff_id)

    def _view(self, layers: list[tuple[Descriptor, Digest]]) -> Path | None:
        """A read-only root filesystem of ``layers`` (None: no layers), kept for the job."""
        chain = self._ensure_chain(layers)
        if chain is None:
            return None
        with self.builder.lock:
            if chain not in self._views:
                self._views[chain] = self.snap.view(chain)
            return self._views[chain]

    def _ensure_chain(self, layers: list[tuple[Descriptor, Digest]]) -> Digest | None:
        """Extract whatever of these layers is not unpacked yet; the top chain ID."""
        parent: Digest | None = None
        for desc, diff_id in layers:
            chain = chain_id(parent, diff_id)
            with self.builder.lock:
                if not self.snap.has(chain):
                    layer = Layer(desc, diff_id, self.builder.blobs)
                    chain = self.snap.add_layer(parent, diff_id, partial(open_layer, layer))
            parent = chain
        return parent

    def announce(self, text: str) -> int:
        return self.builder.announce(text)

    def epoch_iso(self) -> str | None:
        return rfc3339(self.req.epoch) if self.req.epoch is not None else None


@contextlib.contextmanager
def _joined(threads: dict[int, threading.Thread]) -> Iterator[None]:
    """Wait for the threads still running when the block ends, however it ends."""
    try:
        yield
    finally:
        for t in list(threads.values()):
            t.join()


LAYER_STEPS = (ins.Run, ins.Copy, ins.Workdir)  # what BuildKit numbers, besides FROM


def step_names(stage: str | None, instructions: list[ins.Instruction]) -> Iterator[str]:
    """BuildKit's step labels for one stage: ``build 2/4`` (``2/4`` for an unnamed stage),
    FROM first, then one number per RUN, COPY, ADD and WORKDIR, padded to the width of
    the total (`` 2/12``). An instruction that makes no layer keeps the last label."""
    total = 1 + sum(isinstance(i, LAYER_STEPS) for i in instructions)
    prefix = f"{stage} " if stage else ""
    width = len(str(total))
    n = 1
    yield f"{prefix}{n:>{width}}/{total}"
    for i in instructions:
        if isinstance(i, LAYER_STEPS):
            n += 1
        yield f"{prefix}{n:>{width}}/{total}"


def _os_error_text(e: OSError) -> str:
    """The reason, and the file unless the disk is full (then the file is just the one
    that was being read when the destination ran out of space)."""
    text = e.strerror or str(e)
    if e.filename and e.errno not in (errno.ENOSPC, errno.EDQUOT):
        text += f": {e.filename}"
    return text
