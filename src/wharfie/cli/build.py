"""``wharfie build``: docker build's flags on top of build.builder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from wharfie.cli.buildprogress import PlainProgress, TtyProgress
from wharfie.cli.context import App, pass_app, sigterm_as_interrupt
from wharfie.errors import WharfieError
from wharfie.fs.output import write_bytes


def _key_values(items: tuple[str, ...], what: str, *, from_env: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise WharfieError(f"invalid {what} {item!r}: want KEY=VALUE")
        if not eq:
            if not from_env:
                raise WharfieError(f"invalid {what} {item!r}: want KEY=VALUE")
            if key not in os.environ:
                continue  # docker: --build-arg NAME takes the value from the environment, if set
            value = os.environ[key]
        out[key] = value
    return out


@click.command("build")
@click.argument("context_arg", metavar="PATH|-")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag).")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default PATH/Dockerfile).")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables.")
@click.option("--target", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--no-cache-filter", "no_cache_filter", multiple=True,
              help="Do not cache the given stages (comma-separated names).")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image.")
@click.option("--squash", is_flag=True, help="Squash newly built layers into a single new layer.")
@click.option("--iidfile", type=click.Path(path_type=Path), help="Write the image ID to the file.")
@click.option("--progress", type=click.Choice(["auto", "plain", "tty", "quiet"]), default="auto")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID.")
@click.option("--network", type=click.Choice(["default", "host", "none"]), default="default")
@click.option("--secret", "secrets", multiple=True, help="id=ID,src=PATH or id=ID,env=VAR")
@click.option("--ssh", "ssh", multiple=True,
              help="SSH agent for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or ID=SOCKET.")
@click.option("--platform", help="Set target platform for build (os/arch[/variant]).")
@click.option("-o", "--output", "outputs", multiple=True,
              help="Output destination (type=image|docker|oci|tar|local,dest=PATH).")
@click.option("--cache-from", "cache_from", multiple=True,
              help="External cache sources (type=local,src=DIR or type=registry,ref=REF).")
@click.option("--cache-to", "cache_to", help="Cache export destination (type=local,dest=DIR or type=registry,ref=REF).")
@click.option("--explain-cache", is_flag=True,
              help="Say which input changed for the first step that missed the cache.")
@click.option("--compression", type=click.Choice(["gzip", "zstd", "none"]), default="gzip",
              help="Layer compression.")
@click.option("--build-context", "build_contexts", multiple=True,
              help="Additional build contexts (NAME=PATH or NAME=docker-image://REF).")
@click.option("--add-host", "add_hosts", multiple=True,
              help="Add a custom host-to-IP mapping for RUN (host:ip).")
@click.option("--shm-size", help="Size of /dev/shm for RUN (default 64MB).")
@click.option("--check", is_flag=True,
              help="Run the build checks (lint rules) and stop; exit 1 if any is violated.")
@click.option("--push", is_flag=True, help="Push the tags to their registries "
              "(shorthand for --output=type=registry).")
@click.option("--load", is_flag=True, help="Accepted for docker buildx scripts: the image "
              "always goes to the local store.")
@click.option("--metadata-file", type=click.Path(path_type=Path),
              help="Write build result metadata (image digests, names) to a JSON file.")
@pass_app
def build_cmd(app: App, context_arg: str, tags, dockerfile, build_args, target, no_cache,
              no_cache_filter, pull, labels, squash, iidfile, progress, quiet, network,
              secrets, ssh, platform, outputs, cache_from, cache_to, explain_cache,
              compression, build_contexts, add_hosts, shm_size, check, push, load,
              metadata_file) -> None:
    """Build an image from a Dockerfile."""
    from wharfie.builder.builder import Builder, BuildRequest
    from wharfie.builder.cache_io import parse_cache_spec
    from wharfie.builder.context import BuildContext, HashCache, named_context
    from wharfie.builder.dockerignore import load_for
    from wharfie.builder.gitsource import is_git_url
    from wharfie.builder.mounts import parse_secret
    from wharfie.builder.outputs import parse_output, write_output
    from wharfie.builder.sshagent import parse_ssh
    from wharfie.dockerfile.lint import build_checks
    from wharfie.oci.reference import parse_reference
    from wharfie.runtime.spec import parse_host
    from wharfie.units import parse_size

    for t in tags:
        parse_reference(t)  # fail before doing any work
    outs = [parse_output(o) for o in outputs]
    push = push or any(o.push for o in outs)
    if push and not tags:
        raise WharfieError("tag is needed when pushing to registry: use -t NAME:TAG")
    work = app.root / "build" / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    hashes = HashCache(app.root / "build" / "hashes.db")
    if context_arg == "-" or is_git_url(context_arg):
        data = sys.stdin.buffer.read() if context_arg == "-" else b""
        if is_git_url(context_arg) or (data[:512].rstrip(b"\0") and _looks_like_tar(data)):
            import io

            if is_git_url(context_arg):
                ctx = BuildContext.from_git(context_arg, app.root / "build" / "git",
                                            hash_cache=hashes)
            else:
                ctx = BuildContext.from_tar(io.BytesIO(data), work, hash_cache=hashes)
            df_path = ctx.root / (dockerfile or "Dockerfile")  # -f: inside the context
            if not df_path.is_file():
                ctx.close()
                raise WharfieError(f"{dockerfile or 'Dockerfile'}: not found in the context")
            ctx.ignore = load_for(ctx.root, df_path)
            text, name = df_path.read_text(), df_path.name
        else:
            ctx, text, name = None, data.decode(), "Dockerfile"
    else:
        root = Path(context_arg)
        if not root.is_dir():
            raise WharfieError(f"unable to prepare context: path {context_arg!r} not found")
        if dockerfile == "-":
            text, name, df_path = sys.stdin.read(), "Dockerfile", None
        else:
            df_path = Path(dockerfile) if dockerfile else root / "Dockerfile"
            if not df_path.is_file():
                raise WharfieError(f"failed to read dockerfile: open {df_path}: "
                                   "no such file or directory")
            text, name = df_path.read_text(), df_path.name
        ctx = BuildContext(root, load_for(root, df_path), hash_cache=hashes)
    show = not quiet and progress != "quiet"
    args = _key_values(build_args, "--build-arg", from_env=True)
    findings, fail = build_checks(text, name, args.get("BUILDKIT_DOCKERFILE_CHECK"))
    if (check or fail) and ctx is not None:
        ctx.close()  # no build follows
    if check:
        for f in findings:
            click.echo(f"{f.rule}: {f.message}\n{name}:{f.line}\n    hint: {f.hint}")
        count = f"{len(findings)} warning{'s' if len(findings) != 1 else ''}"
        click.echo(f"Check complete, {count} found!" if findings
                   else "Check complete, no warnings found.")
        sys.exit(1 if findings else 0)
    if fail:
        _show_findings(findings)
        raise WharfieError("lint violation found for rules: "
                           + ", ".join(sorted({f.rule for f in findings})))
    epoch_text = args.get("SOURCE_DATE_EPOCH", os.environ.get("SOURCE_DATE_EPOCH"))
    if epoch_text and not epoch_text.isdigit():
        raise WharfieError(f"invalid SOURCE_DATE_EPOCH {epoch_text!r}: want seconds since 1970")
    epoch = int(epoch_text) if epoch_text else None
    req = BuildRequest(
        dockerfile=text, dockerfile_name=name, context=ctx, tags=list(tags),
        build_args=args, target=target,
        no_cache=no_cache, labels=_key_values(labels, "--label"), squash=squash,
        platform=platform, network=network, secrets=[parse_secret(s) for s in secrets],
        epoch=epoch, compression=compression, pull=pull,
        cache_from=[parse_cache_spec(c, "src") for c in cache_from],
        cache_to=parse_cache_spec(cache_to, "dest") if cache_to else None,
        named_contexts=dict(named_context(c, hashes) for c in build_contexts),
        ssh=dict(parse_ssh(s) for s in ssh),
        extra_hosts=[parse_host(h) for h in add_hosts],
        shm_size=parse_size(shm_size, binary=True) if shm_size else None,
        no_cache_filter=[s.lower() for f in no_cache_filter for s in f.split(",") if s])
    explain = explain_cache or progress == "plain"
    if show and (progress == "tty" or (progress == "auto" and sys.stderr.isatty())):
        renderer = TtyProgress(sys.stderr, explain=explain)
    else:
        renderer = PlainProgress(sys.stderr, quiet=not show, explain=explain)
    builder = Builder(app.root, app.images, emit=renderer)
    try:
        with sigterm_as_interrupt():
            result = builder.build(req)
    finally:
        renderer.close()
        if ctx is not None:
            ctx.close()
    names = [parse_reference(t) for t in tags]
    for out in outs:
        write_output(out, app.root, app.images, result.manifest_digest, names)
    if push:
        _push(app, names, builder._step_counter + 1, show)
    if iidfile:
        write_bytes(iidfile, str(result.image_id).encode())
    if metadata_file:  # what buildx writes, for CI steps that read the digests
        write_bytes(metadata_file, json.dumps({
            "containerimage.config.digest": str(result.image_id),
            "containerimage.digest": str(result.manifest_digest),
            "image.name": ",".join(str(n) for n in names)}, indent=2).encode() + b"\n")
    if quiet:
        click.echo(result.image_id)
        return
    if show:
        sys.stderr.write(f"#{builder._step_counter + 1} writing image {result.image_id} done\n")
        for n in names:
            sys.stderr.write(f"#{builder._step_counter + 1} naming to {n} done\n")
        _show_findings(findings)


def _show_findings(findings: list) -> None:
    """Build check warnings after a build, in BuildKit's words."""
    if findings:
        n = len(findings)
        sys.stderr.write(f"\n {n} warning{'s' if n != 1 else ''} found:\n")
        for f in findings:
            sys.stderr.write(f" - {f.rule}: {f.message} (line {f.line})\n")


def _push(app: App, names: list, step: int, show: bool) -> None:
    """Push each tag, saying so on stderr as buildx does (stdout stays the image ID's)."""
    from wharfie.cli.push import push_one
    from wharfie.cli.transfer import registry_options

    opts = registry_options()
    for ref in names:
        if show:
            sys.stderr.write(f"#{step} pushing {ref}\n")
        push_one(app, ref, opts, quiet=True)
        if show:
            sys.stderr.write(f"#{step} pushing {ref} done\n")


def _looks_like_tar(data: bytes) -> bool:
    from wharfie.layers.compression import sniff

    return sniff(data[:6]) != "none" or data[257:262] == b"ustar"
