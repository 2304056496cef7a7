"""``wharfie build``: docker build's flags in, ``wharfie.builder.build``, progress out."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import click

from wharfie.cli.buildrun import run_build
from wharfie.cli.context import App, pass_app
from wharfie.errors import WharfieError


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
@click.option("--progress", type=click.Choice(["auto", "plain", "tty", "quiet", "rawjson"]), default="auto")
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
@click.option("--sbom", is_flag=True, help="Attach an SPDX SBOM to the image as an OCI "
              "referrer (pushed with it; read back with wharfie sbom --from-attestation).")
@pass_app
def build_cmd(app: App, context_arg: str, tags, dockerfile, build_args, target, no_cache,
              no_cache_filter, pull, labels, squash, iidfile, progress, quiet, network,
              secrets, ssh, platform, outputs, cache_from, cache_to, explain_cache,
              compression, build_contexts, add_hosts, shm_size, check, push, load,
              metadata_file, sbom) -> None:
    """Build an image from a Dockerfile."""
    from wharfie.builder import BuildOptions

    options = BuildOptions(
        context=context_arg, dockerfile=dockerfile, tags=list(tags),
        build_args=_key_values(build_args, "--build-arg", from_env=True), target=target,
        labels=_key_values(labels, "--label"), no_cache=no_cache,
        no_cache_filter=list(no_cache_filter), pull=pull, squash=squash, platform=platform,
        network=network, secrets=list(secrets), ssh=list(ssh), outputs=list(outputs),
        cache_from=list(cache_from), cache_to=cache_to, build_contexts=list(build_contexts),
        add_hosts=list(add_hosts), shm_size=shm_size, compression=compression, iidfile=iidfile,
        metadata_file=metadata_file, push=push, sbom=sbom,
        explain_cache=explain_cache or progress == "plain")
    if context_arg == "-":  # stdin: a context tar, or a Dockerfile alone
        from wharfie.builder.context import looks_like_tar

        data = sys.stdin.buffer.read()
        options.context = None
        if looks_like_tar(data):
            options.context_tar = io.BytesIO(data)
        else:
            options.dockerfile_text = data.decode()
    elif dockerfile == "-":
        options.dockerfile, options.dockerfile_text = None, sys.stdin.read()
    if check:
        from wharfie.builder import check as check_build

        _show_check(check_build(app.images, options))
    run_build(app.images, options, app.invocation, quiet=quiet, progress=progress)


def _show_check(report) -> None:
    """``--check``: the findings, then exit 1 if there are any."""
    for f in report.findings:
        click.echo(f"{f.rule}: {f.message}\n{report.dockerfile_name}:{f.line}\n"
                   f"    hint: {f.hint}")
    count = f"{len(report.findings)} warning{'s' if len(report.findings) != 1 else ''}"
    click.echo(f"Check complete, {count} found!" if report.findings
               else "Check complete, no warnings found.")
    sys.exit(1 if report.findings else 0)
