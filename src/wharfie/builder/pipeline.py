"""``build()`` and ``check()``: what ``wharfie build`` does, apart from rendering.

The context is prepared (a directory, a git URL or a tar stream), the build checks run,
the job builds the image into the store, and then the outputs, the push, the iidfile and
the metadata file follow, in that order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.builder.context import BuildContext, HashCache, load_for, named_context
from wharfie.builder.engine import Builder
from wharfie.builder.mounts import parse_secret
from wharfie.builder.options import BuildOptions
from wharfie.builder.request import BuildRequest
from wharfie.builder.result import BuildCheckError, BuildEvent, BuildResult, emit_export
from wharfie.dockerfile.lint import build_checks
from wharfie.errors import WharfieError
from wharfie.fs.output import write_bytes
from wharfie.oci.reference import parse_reference
from wharfie.oci.timestamps import source_date_epoch
from wharfie.runtime.spec import parse_host
from wharfie.units import parse_size

if TYPE_CHECKING:
    from wharfie.builder.cache.transfer import CacheSpec
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions

Emit = Callable[[BuildEvent], None]


@dataclass
class CheckReport:
    """What ``wharfie build --check`` found: lint findings, and the Dockerfile's name."""

    findings: list
    dockerfile_name: str


@dataclass
class _Dockerfile:
    """The Dockerfile's text and the name it is reported by."""

    text: str
    name: str


def build(images: ImageStore, options: BuildOptions, *, registries: RegistryOptions | None = None,
          emit: Emit | None = None) -> BuildResult:
    """Build ``options`` into ``images``, then send the image where ``options`` says.

    >>> result = build(ImageStore(root), BuildOptions("examples/hello", tags=["hello:1"]))
    >>> result.manifest_digest, result.image_id
    """
    for t in options.tags:
        parse_reference(t)  # fail before doing any work
    outs = _outputs(options.outputs)
    push = options.push or any(o.push for o in outs)
    if push and not options.tags:
        raise WharfieError("tag is needed when pushing to registry: use -t NAME:TAG")
    if options.sbom and not options.tags:
        raise WharfieError("tag is needed to attach an SBOM: use -t NAME:TAG")
    emit = _filtered(emit or (lambda e: None), options.explain_cache)
    root = images.root
    (root / "build" / "tmp").mkdir(parents=True, exist_ok=True)
    hashes = HashCache(root / "build" / "hashes.db")
    with _context(root, options, hashes) as (ctx, df):
        findings, fail = build_checks(df.text, df.name,
                                      options.build_args.get("BUILDKIT_DOCKERFILE_CHECK"))
        if fail:
            raise BuildCheckError("lint violation found for rules: "
                                  + ", ".join(sorted({f.rule for f in findings})), findings)
        req = _request(options, ctx, df, hashes, registries)
        engine = Builder(root, images, emit=emit, registries=registries)
        result = engine.build(req)
    result.checks = findings
    result.steps = engine.steps
    names = [parse_reference(t) for t in options.tags]
    emit_export(emit, result.steps + 1, result.image_id, names)
    if outs:
        _write_outputs(outs, root, images, result.manifest_digest, names)
    if push:
        from wharfie.builder.exporters.registry import push_tags  # the push machinery

        push_tags(images, names, result.steps + 1, registries, emit)
    if options.sbom:
        _attach_sbom(images, names, push, registries)
    if options.iidfile:
        write_bytes(options.iidfile, str(result.image_id).encode())
    if options.metadata_file:  # what buildx writes, for CI steps that read the digests
        write_bytes(options.metadata_file, json.dumps({
            "containerimage.config.digest": str(result.image_id),
            "containerimage.digest": str(result.manifest_digest),
            "image.name": ",".join(str(n) for n in names)}, indent=2).encode() + b"\n")
    return result


def _outputs(specs: list[str]) -> list:
    """The ``--output`` specs parsed; the exporters load only for a build that has some."""
    if not specs:
        return []
    from wharfie.builder.exporters import parse_output

    return [parse_output(s) for s in specs]


def _write_outputs(outs: list, root: Path, images: ImageStore, manifest_digest: str,
                   names: list) -> None:
    from wharfie.builder.exporters import write_output

    for out in outs:
        write_output(out, root, images, manifest_digest, names)


def _attach_sbom(images: ImageStore, names: list, push: bool,
                 registries: RegistryOptions | None) -> None:
    """The post-build SBOM hook: an SPDX referrer of the image in each tag's repository,
    kept in the store and, when the build pushed the tags, pushed after them."""
    from wharfie.security.sbom.attest import attach_local, push_attestation
    from wharfie.transports.registry.client import RegistryOptions

    for ref in names:
        attach_local(images, ref)
        if push:
            push_attestation(images, ref, images.resolve(str(ref)).digest, ref,
                             registries or RegistryOptions())


def check(images: ImageStore, options: BuildOptions) -> CheckReport:
    """The build checks (lint rules) of the Dockerfile ``options`` names; nothing is built.

    >>> check(ImageStore(root), BuildOptions("examples/hello")).findings
    """
    (images.root / "build" / "tmp").mkdir(parents=True, exist_ok=True)
    hashes = HashCache(images.root / "build" / "hashes.db")
    with _context(images.root, options, hashes) as (_, df):
        findings, _ = build_checks(df.text, df.name,
                                   options.build_args.get("BUILDKIT_DOCKERFILE_CHECK"))
    return CheckReport(findings, df.name)


def _filtered(emit: Emit, explain: bool) -> Emit:
    """Cache-miss explanations only when asked for."""
    if explain:
        return emit
    return lambda e: None if e.kind == "explain" else emit(e)


@contextlib.contextmanager
def _context(root: Path, options: BuildOptions, hashes: HashCache
             ) -> Iterator[tuple[BuildContext | None, _Dockerfile]]:
    """The build context (closed on the way out) and the Dockerfile's text and name."""
    ctx, df = _open_context(root, options, hashes)
    try:
        yield ctx, df
    finally:
        if ctx is not None:
            ctx.close()


def _open_context(root: Path, options: BuildOptions, hashes: HashCache
                  ) -> tuple[BuildContext | None, _Dockerfile]:
    where = str(options.context) if options.context is not None else None
    if options.context_tar is not None or (where is not None and _is_git_url(where)):
        if options.context_tar is not None:
            ctx = BuildContext.from_tar(options.context_tar, root / "build" / "tmp",
                                        hash_cache=hashes)
        else:
            ctx = BuildContext.from_git(where, root / "build" / "git", hash_cache=hashes)
        df_path = ctx.root / (options.dockerfile or "Dockerfile")  # -f: inside the context
        if not df_path.is_file():
            ctx.close()
            raise WharfieError(f"{options.dockerfile or 'Dockerfile'}: not found in the context")
        ctx.ignore = load_for(ctx.root, df_path)
        return ctx, _Dockerfile(df_path.read_text(), df_path.name)
    if where is None:  # a Dockerfile alone: nothing to COPY from
        return None, _Dockerfile(options.dockerfile_text or "", "Dockerfile")
    context = Path(where)
    if not context.is_dir():
        raise WharfieError(f"unable to prepare context: path {where!r} not found")
    if options.dockerfile_text is not None:
        df_path, df = None, _Dockerfile(options.dockerfile_text, "Dockerfile")
    else:
        df_path = Path(options.dockerfile) if options.dockerfile else context / "Dockerfile"
        if not df_path.is_file():
            raise WharfieError(f"failed to read dockerfile: open {df_path}: "
                               "no such file or directory")
        df = _Dockerfile(df_path.read_text(), df_path.name)
    return BuildContext(context, load_for(context, df_path), hash_cache=hashes), df


def _is_git_url(where: str) -> bool:
    """``gitsource.is_git_url``; every git URL holds "://" or "git@", so a plain path (the
    usual context) is answered without loading the git code."""
    if "://" not in where and "git@" not in where:
        return False
    from wharfie.builder.context.gitsource import is_git_url

    return is_git_url(where)


def _request(options: BuildOptions, ctx: BuildContext | None, df: _Dockerfile,
             hashes: HashCache, registries: RegistryOptions | None) -> BuildRequest:
    """The engine's request: every spec string parsed, SOURCE_DATE_EPOCH read."""
    epoch = options.epoch
    if epoch is None:
        epoch = source_date_epoch(options.build_args.get("SOURCE_DATE_EPOCH"))
    shm = options.shm_size
    cache_from, cache_to = _cache_specs(options.cache_from, options.cache_to)
    return BuildRequest(
        dockerfile=df.text, dockerfile_name=df.name, context=ctx, tags=list(options.tags),
        build_args=dict(options.build_args), target=options.target,
        no_cache=options.no_cache, labels=dict(options.labels), squash=options.squash,
        platform=options.platform, network=options.network,
        secrets=[parse_secret(s) for s in options.secrets],
        epoch=epoch, compression=options.compression, pull=options.pull, jobs=options.jobs,
        cache_from=cache_from, cache_to=cache_to,
        named_contexts=dict(named_context(c, hashes) for c in options.build_contexts),
        ssh=_ssh_agents(options.ssh),
        extra_hosts=[parse_host(h) for h in options.add_hosts],
        shm_size=parse_size(shm, binary=True) if isinstance(shm, str) else shm,
        no_cache_filter=[s.lower() for f in options.no_cache_filter for s in f.split(",") if s])


def _cache_specs(sources: list[str], dest: str | None) -> tuple[list, CacheSpec | None]:
    """``--cache-from`` and ``--cache-to`` parsed; the cache transfer code (OCI layouts,
    registries) loads only for a build that names one."""
    if not sources and not dest:
        return [], None
    from wharfie.builder.cache.transfer import parse_cache_spec

    return ([parse_cache_spec(c, "src") for c in sources],
            parse_cache_spec(dest, "dest") if dest else None)


def _ssh_agents(specs: list[str]) -> dict:
    """``--ssh`` parsed; the agent relay (sockets) loads only for a build that forwards one."""
    if not specs:
        return {}
    from wharfie.builder.sshagent import parse_ssh

    return dict(parse_ssh(s) for s in specs)
