"""``wharfie build``: run a resolved Dockerfile, step by step, into the image store.

Stages run in dependency order, independent ones side by side. Each step that
changes the filesystem (RUN, COPY, ADD, WORKDIR) runs in a fresh snapshot of
its parent's layers and is committed as one layer; a step whose cache key is
already known reuses the layer it made before. Everything else only edits the
image config (``imageconfig.StageImage``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from wharfie.builder import gitsource
from wharfie.builder.cache import BuildCache, CacheRecord, explain_miss, step_key
from wharfie.builder.cache_io import CacheSpec, export_to, import_from
from wharfie.builder.chmod import ModeSpec
from wharfie.builder.context import BuildContext, HashCache, checksum_tree
from wharfie.builder.copy import CopyError, CopyOptions, copy_sources
from wharfie.builder.fetch import fetch_url
from wharfie.builder.imageconfig import StageImage, empty_config
from wharfie.builder.mounts import (
    MountContext,
    MountSource,
    Secret,
    bind_checksums,
    key_of,
    prepared,
    sweep_abandoned,
)
from wharfie.dockerfile import instructions as ins
from wharfie.dockerfile.stages import (
    ResolvedStage,
    expand_instruction,
    parse_dockerfile,
    parse_triggers,
    resolve,
)
from wharfie.errors import DigestMismatch, NotFound, WharfieError
from wharfie.fs.inroot import resolve as secure_join
from wharfie.images.imagestore import ImageStore, StoredImage
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, Layer
from wharfie.oci.manifest import Descriptor, Manifest, canonical_json
from wharfie.oci.platform import host_platform, parse_platform
from wharfie.oci.reference import parse_reference
from wharfie.paths import make_private_dirs
from wharfie.runtime import Bind, ProcessConfig, merge_env, resolve_user
from wharfie.runtime import run as run_process
from wharfie.snapshots import Snapshotter, chain_id, for_root

OUTPUT_TAIL = 20
CACHE_PIN = "build-cache"  # image removal keeps layers the build cache still holds


class BuildError(WharfieError):
    """A build step that failed: says which, and shows the tail of its output."""


@dataclass
class BuildRequest:
    dockerfile: str
    dockerfile_name: str = "Dockerfile"
    context: BuildContext | None = None
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    squash: bool = False
    platform: str | None = None
    network: str = "default"
    secrets: list[Secret] = field(default_factory=list)
    epoch: int | None = None
    compression: str = "gzip"
    jobs: int = 2
    pull: bool = False
    cache_from: list[CacheSpec] = field(default_factory=list)
    cache_to: CacheSpec | None = None
    # --build-context: lowercase name -> image reference, or a directory context
    named_contexts: dict[str, str | BuildContext] = field(default_factory=dict)
    ssh: dict[str, Path] = field(default_factory=dict)  # --ssh: id -> SSH agent socket
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)  # --add-host
    shm_size: int | None = None  # --shm-size for RUN (default: Docker's 64 MiB)
    no_cache_filter: list[str] = field(default_factory=list)  # stages built without cache


@dataclass
class BuildEvent:
    """Progress, for the CLI to render: ``kind`` is step, cached, output, done or warning."""

    kind: str
    step: int
    text: str
    seconds: float = 0.0


@dataclass
class BuildResult:
    manifest_digest: Digest
    image_id: Digest
    warnings: list[str]


@dataclass
class StageState:
    """A stage being built: its config, its layers (blob, diffID) and its cache key."""

    image: StageImage
    layers: list[tuple[Descriptor, Digest]]
    key: str
    base_layers: int = 0
    label: str = ""


class _Blobs(BlobSource):
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.store.content.open(desc.digest)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(
        ".000000Z", "Z")


class Builder:
    """Builds images from Dockerfiles into one wharfie root."""

    def __init__(self, root: Path, store: ImageStore,
                 emit: Callable[[BuildEvent], None] | None = None,
                 snapshotter: Snapshotter | None = None) -> None:
        self.root = Path(root)
        self.store = store
        self.emit = emit or (lambda e: None)
        self.snap = snapshotter or for_root(self.root)  # sweeps killed builds' snapshots
        sweep_abandoned(make_private_dirs(self.root / "build" / "tmp"))  # and their secrets
        self.cache = BuildCache(self.root / "build", store.content)
        self.hashes = HashCache(self.root / "build" / "hashes.db")
        self.blobs = _Blobs(store)
        self._lock = threading.RLock()  # _external pulls (and announces) under it
        self._step_counter = 0
        self._cancelled = threading.Event()
        self._views: dict[str, Path] = {}

    # -- the whole build ------------------------------------------------------------------

    def build(self, req: BuildRequest) -> BuildResult:
        df = parse_dockerfile(req.dockerfile, req.dockerfile_name)
        self.req = req
        self.platform = parse_platform(req.platform) if req.platform else host_platform()
        self.external: dict[str, StoredImage] = {}
        self.secrets = {s.id: s for s in req.secrets}
        self._explained = False
        self.used_keys: list[str] = []
        for src in req.cache_from:
            self.store.pin(import_from(self.cache, src), CACHE_PIN)
        ctx_root = req.context.root if req.context and req.context.root else "-"
        self.ident = f"{os.path.abspath(ctx_root)}|{req.dockerfile_name}"
        self.named_images = {k: v for k, v in req.named_contexts.items() if isinstance(v, str)}
        self.named_dirs = {k: v for k, v in req.named_contexts.items()
                           if isinstance(v, BuildContext)}
        rb = resolve(df, req.target, build_args=req.build_args, platform=self.platform,
                     base_env=self._base_env, named_contexts=set(req.named_contexts))
        self.escape = df.escape
        self.proxy_env = rb.proxy_env
        for w in rb.warnings:
            self.emit(BuildEvent("warning", 0, w))
        stages = {s.index: s for s in rb.stages}
        results: dict[int, StageState] = {}
        self.stage_names = {s.name: s.index for s in rb.stages if s.name}
        try:
            self._run_stages(stages, results)
            final = results[rb.target]
            digest, image_id = self._commit_image(final, req)
        finally:
            for chain in list(self._views):
                with contextlib.suppress(WharfieError, OSError):
                    self.snap.release(chain)
            self._views.clear()
            self.hashes.flush()
        if req.cache_to is not None:
            scratch = self.root / "build" / "tmp"
            scratch.mkdir(parents=True, exist_ok=True)
            export_to(self.cache, self.used_keys, req.cache_to, scratch)
        if req.squash:
            digest, image_id = self._squash(digest, final.base_layers, req)
        for tag in req.tags:
            self.store.tag(parse_reference(tag), digest)
        return BuildResult(digest, image_id, rb.warnings)

    def _run_stages(self, stages: dict[int, ResolvedStage], results: dict[int, StageState]) -> None:
        """Run every stage once its dependencies are done; independent ones in parallel."""
        pending = dict(stages)
        running: dict[Future, int] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.req.jobs)) as pool, \
                self._cancel_on_exit():
            while pending or running:
                ready = [i for i, s in pending.items() if all(d in results for d in s.depends_on)]
                for i in ready:
                    running[pool.submit(self._run_stage, pending.pop(i), results)] = i
                if not running:
                    raise BuildError("stages wait on each other: the dependency graph has a cycle")
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    results[i] = fut.result()  # re-raises the stage's error: siblings stop

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

    def _run_stage(self, stage: ResolvedStage, results: dict[int, StageState]) -> StageState:
        label = f"stage-{stage.index}" if stage.name is None else stage.name
        state = self._base_state(stage, results)
        state.label = label
        step = self._announce(f"[{label}] FROM {stage.base}")
        self.emit(BuildEvent("done", step, ""))
        triggers: list[ins.Instruction] = []
        if stage.base_stage is None and not self._is_scratch(stage.base):
            onbuild = (self.external[stage.base].config.config.get("OnBuild") or [])
            triggers = [expand_instruction(t, state.image.env_dict(), self.escape)
                        for t in parse_triggers(onbuild, stage.base)]
        todo = [(t, {}) for t in triggers] + [(s.instruction, s.args) for s in stage.steps]
        for instruction, args in todo:
            if self._cancelled.is_set():
                raise BuildError(f"[{label}] cancelled: another stage failed")
            self._step(state, instruction, args, label, results)
        return state

    def _base_state(self, stage: ResolvedStage, results: dict[int, StageState]) -> StageState:
        if stage.base_stage is not None:
            parent = results[stage.base_stage]
            image = StageImage.from_base(parent.image.doc, parent.image.created)
            image.cmd_set = False
            return StageState(image, list(parent.layers), parent.key, len(parent.layers))
        if self._is_scratch(stage.base):
            p = self.platform
            doc = empty_config(p.os, p.architecture, p.variant)
            return StageState(StageImage(doc, created=self._epoch_iso()), [],
                              step_key("", "scratch", platform=str(p)))
        img = self._external(stage.base)
        layers = [(layer.descriptor, layer.diff_id) for layer in img.layers()]
        created = self._epoch_iso() or img.config.created
        return StageState(StageImage.from_base(img.config.doc, created), layers,
                          step_key("", "from", manifest=str(img.digest)), len(layers))

    def _base_env(self, name: str) -> dict[str, str]:
        env: dict[str, str] = {}
        if self._is_scratch(name):
            return env
        for item in self._external(name).config.config.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    def _external(self, name: str) -> StoredImage:
        """A base image: from the store, pulled when missing (or always, with ``--pull``)."""
        with self._lock:
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

    def _is_scratch(self, base: str) -> bool:
        """FROM scratch, or a name that --build-context maps to docker-image://scratch."""
        return self.named_images.get(base.lower(), base).lower() == "scratch"

    def _platform_ok(self, image: StoredImage) -> bool:
        have = image.config.platform
        return not have.os or self.platform.matches(have)

    def _pull(self, name: str) -> StoredImage:
        from wharfie.oci.image import ImageIndex
        from wharfie.transports.base import copy_image
        from wharfie.transports.registry.client import RegistryOptions
        from wharfie.transports.registry.source import open_remote

        ref = parse_reference(name)
        step = self._announce(f"[internal] load metadata for {ref}")
        try:
            remote = open_remote(ref, RegistryOptions())
            image = remote.image_for(self.platform) if isinstance(remote, ImageIndex) else remote
            digest = copy_image(image, self.store.destination(), ref)
        except WharfieError as e:
            raise NotFound(f"{name}: base image not found in the local store, and pulling it "
                           f"failed: {e}") from None
        self.emit(BuildEvent("done", step, "DONE"))
        return self.store.get(digest)

    # -- one instruction ---------------------------------------------------------------------

    def _step(self, st: StageState, i: ins.Instruction, args: dict[str, str], label: str,
              results: dict[int, StageState]) -> None:
        if st.image.apply(i):
            return
        if isinstance(i, ins.Arg):
            st.image.add_arg_history([(k, args.get(k, v)) for k, v in i.args])
        elif isinstance(i, ins.Workdir):
            self._workdir(st, i, label)
        elif isinstance(i, ins.Run):
            self._run(st, i, args, label, results)
        elif isinstance(i, ins.Copy):
            self._copy(st, i, label, results)
        else:
            raise BuildError(f"line {i.line}: {i.name} is not supported by wharfie build")

    def _workdir(self, st: StageState, i: ins.Workdir, label: str) -> None:
        wd = st.image.set_workdir(i.path)
        if wd == "/":
            st.image.history(f"WORKDIR {wd}", layer=False)
            return

        def mkdir(rootfs: Path, step_no: int) -> None:
            target = secure_join(rootfs, wd)
            if not target.exists():
                target.mkdir(parents=True, mode=0o755)
                if st.image.user:
                    u = resolve_user(rootfs, st.image.user)
                    os.chown(target, u.uid, u.gid)

        self._layer_step(st, "workdir", {"path": wd, "user": st.image.user}, f"WORKDIR {wd}",
                         f"[{label}] WORKDIR {wd}", mkdir, buildkit_suffix=False)

    def _run(self, st: StageState, i: ins.Run, args: dict[str, str], label: str,
             results: dict[int, StageState]) -> None:
        img = st.image
        argv, files = _run_argv(i, img.shell)
        env_list = img.env
        env_keys = {e.partition("=")[0] for e in env_list}
        arg_env = [f"{k}={v}" for k, v in args.items() if k not in env_keys]
        proxy = [f"{k}={v}" for k, v in self.proxy_env.items()]
        env = merge_env(merge_env(env_list, arg_env), proxy)
        network = i.network or self.req.network
        network = "host" if network in ("default", "host") else network
        created_by = "RUN " + _run_command_string(argv, args)
        inputs = {"argv": argv, "env": env, "user": img.user, "workdir": img.workdir,
                  "network": network, "mounts": [key_of(m) for m in i.mounts],
                  "heredocs": files}
        if self.req.extra_hosts:  # part of the key, as in BuildKit; absent: keys as before
            inputs["hosts"] = self.req.extra_hosts
        if self.req.shm_size:
            inputs["shm"] = self.req.shm_size
        stage_dirs = {}
        for m in i.mounts:
            src = m.source_stage
            if src and m.type in ("bind", "cache"):
                stage_dirs[src] = self._mount_source(src, results)
        ctx = self.req.context
        mctx = MountContext(self.root / "build" / "cache-mounts",
                            MountSource(ctx.root, ctx.ignore) if ctx and ctx.root else None,
                            stage_dirs, self.secrets, self.root / "build" / "tmp",
                            ssh=self.req.ssh)
        mounted: dict[str, str] = {}  # per file, to explain a cache miss
        if any(m.type == "bind" for m in i.mounts):  # absent: keys as before
            inputs["sources"] = bind_checksums(i.mounts, mctx, self.hashes, mounted)

        def execute(rootfs: Path, step_no: int) -> None:
            mctx.cache_root.mkdir(parents=True, exist_ok=True)
            mctx.scratch.mkdir(parents=True, exist_ok=True)
            with prepared(i.mounts, mctx, rootfs, img.workdir, env) as (binds, secret_env), \
                    _heredoc_files(files, mctx.scratch) as file_binds:
                tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
                buf = bytearray()

                def out(data: bytes) -> None:
                    buf.extend(data)
                    while b"\n" in buf:
                        line, _, rest = bytes(buf).partition(b"\n")
                        buf[:] = rest
                        text = line.decode(errors="replace")
                        tail.append(text)
                        self.emit(BuildEvent("output", step_no, text))

                cfg = ProcessConfig(args=argv, env=merge_env(env, secret_env), cwd=img.workdir,
                                    user=img.user, network=network,
                                    binds=binds + file_binds,
                                    extra_hosts=list(self.req.extra_hosts),
                                    shm_size=self.req.shm_size or 64 << 20)
                code = run_process(self.root, rootfs, cfg, stdout=out, stderr=out,
                                   cancel=self._cancelled)
                if buf:
                    out(b"\n")
                if self._cancelled.is_set():
                    raise BuildError(f"[{st.label}] cancelled: another stage failed")
                if code != 0:
                    shown = " ".join(argv)
                    raise BuildError(
                        f'process "{shown}" did not complete successfully: exit code: {code}'
                        + ("\n" + "\n".join(tail) if tail else ""), exit_code=1)

        title = f"[{label}] RUN {' '.join(i.command)}"
        self._layer_step(st, "run", inputs, created_by, title, execute, mounted)

    def _copy(self, st: StageState, i: ins.Copy, label: str,
              results: dict[int, StageState]) -> None:
        is_add = isinstance(i, ins.Add)
        word = "ADD" if is_add else "COPY"
        chmod = ModeSpec(i.chmod) if i.chmod else None
        created_by = " ".join([word] + (["--parents"] if i.parents else [])
                              + ([f"--chown={i.chown}"] if i.chown else [])
                              + ([f"--chmod={i.chmod}"] if i.chmod else [])
                              + i.sources + [c.path for c in i.contents] + [i.dest])
        title = f"[{label}] {word} {' '.join(i.flags + i.sources)} {i.dest}"
        with contextlib.ExitStack() as stack:
            scratch = self.root / "build" / "tmp"
            scratch.mkdir(parents=True, exist_ok=True)
            sources = list(i.sources)
            ignore = None
            git_fetch = None
            files: dict[str, str] = {}
            if i.contents:  # COPY <<EOF /path: the heredocs are the sources
                src_root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)))
                for c in i.contents:
                    (src_root / c.path).write_text(c.data)
                    os.chmod(src_root / c.path, 0o644)
                sources = [c.path for c in i.contents]
                digest = checksum_tree(src_root, sources, None, i.exclude, self.hashes)
            elif i.from_ and i.from_.lower() not in self.named_dirs:
                src_root = self._source_root(i.from_, results)
                digest = checksum_tree(src_root, sources, None, i.exclude, self.hashes,
                                       with_modes=chmod is None, files=files)
            elif is_add and any(gitsource.is_git_url(s) for s in sources):
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
                src_root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch)))
                names = []
                for s in sources:
                    if not _is_url(s):
                        raise CopyError("ADD: mixing URLs and local files is not supported")
                    names.append(fetch_url(s, src_root, i.checksum))
                sources = names
                digest = checksum_tree(src_root, sources, None, i.exclude, self.hashes)
            else:  # the build context, or a named directory context (--build-context)
                ctx = self.named_dirs[i.from_.lower()] if i.from_ else self.req.context
                if ctx is None or ctx.root is None:
                    raise CopyError(f"line {i.line}: {word} needs a build context "
                                    "(the context was '-')")
                src_root, ignore = ctx.root, ctx.ignore
                digest = ctx.checksum(sources, i.exclude, with_modes=chmod is None, files=files)
            inputs = {"sources": digest, "dest": i.dest, "workdir": st.image.workdir,
                      "chown": i.chown, "chmod": i.chmod, "parents": i.parents,
                      "exclude": i.exclude, "link": i.link, "names": sources}
            extract = is_add and i.unpack is not False and \
                not any(_is_url(s) or gitsource.is_git_url(s) for s in i.sources)

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
                                   extract_archives=extract)
                if git_fetch is not None:  # ADD from git, on a cache miss
                    ref, repo, commit = git_fetch
                    gitsource.fetch(ref, repo, keep_git_dir=i.keep_git_dir, expect=commit)
                    if not src_root.is_dir():
                        raise CopyError(f"ADD {ref.label}: no directory {ref.subdir!r} in it")
                copy_sources(src_root, sources, rootfs, i.dest, st.image.workdir, opts)

            self._layer_step(st, word.lower(), inputs, created_by, title, execute, files)

    def _mount_source(self, name: str, results: dict[int, StageState]) -> MountSource:
        """What ``RUN --mount from=name`` reads: a named context keeps its .dockerignore."""
        named = self.named_dirs.get(name.lower())
        if named is not None:
            return MountSource(named.root, named.ignore)  # type: ignore[arg-type]
        return MountSource(self._source_root(name, results))

    def _source_root(self, name: str, results: dict[int, StageState]) -> Path:
        """The root filesystem of a stage (by name or index), a named build context or an
        image, for reading."""
        if name.lower() in self.named_dirs:
            return self.named_dirs[name.lower()].root  # type: ignore[return-value]
        idx = None if name.lower() in self.named_images else self.stage_names.get(name.lower())
        if idx is None and name.isdigit():
            idx = int(name)
        layers = results[idx].layers if idx is not None else \
            [(x.descriptor, x.diff_id) for x in self._external(name).layers()]
        chain = self._ensure_chain(layers)
        if chain is None:
            empty = self.root / "build" / "empty"
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        with self._lock:
            if chain not in self._views:
                self._views[chain] = self.snap.view(chain)
            return self._views[chain]

    # -- layers and the cache ------------------------------------------------------------------

    def _layer_step(self, st: StageState, kind: str, inputs: dict, created_by: str, title: str,
                    action: Callable[[Path, int], None], files: dict | None = None, *,
                    buildkit_suffix: bool = True) -> int:
        """Run (or reuse from the cache) one step that makes a layer, and record it."""
        key = step_key(st.key, kind, **inputs)
        step_no = self._announce(title)
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
            chain = self._ensure_chain(st.layers)
            skey = f"build-{uuid.uuid4().hex[:16]}"
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
            layer = commit.layer
            desc = Descriptor(layer.media_type, layer.digest, layer.size) if layer.entries else None
            record = CacheRecord(self._epoch_iso() or _iso(time.time()), desc,
                                 layer.diff_id if layer.entries else None)
            self.cache.put(key, record)
            if desc is not None:
                self.store.pin([desc.digest], CACHE_PIN)
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
        with self._lock:
            self.used_keys.append(key)
        return step_no

    def _ensure_chain(self, layers: list[tuple[Descriptor, Digest]]) -> Digest | None:
        """Extract whatever of these layers is not unpacked yet; the top chain ID."""
        parent: Digest | None = None
        for desc, diff_id in layers:
            chain = chain_id(parent, diff_id)
            with self._lock:
                if not self.snap.has(chain):
                    layer = Layer(desc, diff_id, self.blobs)
                    chain = self.snap.add_layer(parent, diff_id, layer.open_uncompressed)
            parent = chain
        return parent

    def _announce(self, text: str) -> int:
        with self._lock:
            self._step_counter += 1
            n = self._step_counter
        self.emit(BuildEvent("step", n, text))
        return n

    def _epoch_iso(self) -> str | None:
        return _iso(self.req.epoch) if self.req.epoch is not None else None

    # -- the image -------------------------------------------------------------------------------

    def _commit_image(self, st: StageState, req: BuildRequest) -> tuple[Digest, Digest]:
        doc = st.image.doc
        if req.labels:
            labels = dict(doc["config"].get("Labels") or {})
            labels.update(req.labels)
            doc["config"]["Labels"] = labels
        created = st.image.created or _iso(time.time())
        doc["created"] = created
        return self._put_image(doc, [d for d, _ in st.layers])

    def _put_image(self, doc: dict, layers: list[Descriptor]) -> tuple[Digest, Digest]:
        config_raw = canonical_json(doc)
        config = Descriptor(mt.OCI_CONFIG, self.store.content.put(config_raw), len(config_raw))
        manifest = Manifest.build(config, layers)
        self.store.content.put(manifest.raw)
        digest = self.store.put_manifest(manifest.raw, manifest.media_type)
        return digest, config.digest

    def _squash(self, digest: Digest, keep: int, req: BuildRequest) -> tuple[Digest, Digest]:
        from wharfie.squash import squash

        image = self.store.get(digest)
        new = squash(self.store, image, keep_base=keep, epoch=req.epoch)
        return new.manifest_digest, new.id


def _os_error_text(e: OSError) -> str:
    """The reason, and the file unless the disk is full (then the file is just the one
    that was being read when the destination ran out of space)."""
    text = e.strerror or str(e)
    if e.filename and e.errno not in (errno.ENOSPC, errno.EDQUOT):
        text += f": {e.filename}"
    return text


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _run_command_string(argv: list[str], args: dict[str, str]) -> str:
    """BuildKit's history text for RUN: ``|N K=V ... argv`` when build ARGs are in scope."""
    prefix = [f"|{len(args)}"] + [f"{k}={v}" for k, v in args.items()] if args else []
    return " ".join(prefix + argv)


def _run_argv(i: ins.Run, shell: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The argv of a RUN, and heredoc files to mount as executables (BuildKit's rules)."""
    if not i.heredocs:
        return (shell + [" ".join(i.command)] if i.shell_form else list(i.command)), []
    cmd = " ".join(i.command).strip()
    first = i.heredocs[0]
    if len(i.heredocs) == 1 and cmd in (f"<<{first.name}", f"<<-{first.name}",
                                        f"<<'{first.name}'", f'<<"{first.name}"',
                                        f"<<-'{first.name}'", f'<<-"{first.name}"'):
        data = first.body()
        if data.startswith("#!"):
            name = f"/dev/pipes/{first.name}"
            return [name], [(name, data)]
        return shell + [data], []
    script = cmd
    for h in i.heredocs:
        script += "\n" + h.content + h.name
    return shell + [script], []


@contextlib.contextmanager
def _heredoc_files(files: list[tuple[str, str]], scratch: Path) -> Iterator[list]:
    """Executable heredocs (``RUN <<EOF`` with a shebang) as read-only files bound in."""
    if not files:
        yield []
        return
    with tempfile.TemporaryDirectory(dir=scratch, prefix="heredoc-") as tmp:
        binds = []
        for n, (target, data) in enumerate(files):
            path = Path(tmp) / f"doc-{n}"
            path.write_text(data)
            os.chmod(path, 0o755)
            binds.append(Bind(path, target, True))
        yield binds

