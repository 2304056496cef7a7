"""``wharfie push``: Docker's flags and output; uploads only what the registry lacks."""

from __future__ import annotations

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import LayerProgress, interruptible, registry_options, tls_flags
from wharfie.errors import NotFound, WharfieError
from wharfie.oci.image import ImageIndex
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.base import copy_image, copy_index
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination
from wharfie.transports.registry.provenance import BlobProvenance


@click.command("push")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--max-concurrent-uploads", type=click.IntRange(1, 64), default=4,
              show_default=True, help="Blobs uploaded at once.")
@tls_flags
@pass_app
def push(app: App, name: str, all_tags: bool, quiet: bool, max_concurrent_uploads: int,
         tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Upload an image from the local store to a registry."""
    ref = parse_reference(name, default_tag=False)
    if ref.digest:
        raise WharfieError("push by digest is not supported: push a tag")
    opts = registry_options(tls_verify, insecure, ca_cert, max_concurrent_uploads)
    if all_tags:
        if ref.tag:
            raise WharfieError("tag can't be used with --all-tags/-a")
        refs = sorted({r for img in app.images.list() for r in img.repo_tags
                       if r.name == ref.name}, key=str)
        if not refs:
            raise NotFound(f"No such image: {ref.familiar_name}")
    else:
        if not ref.tag:
            if not quiet:
                click.echo("Using default tag: latest")
            ref = ref.with_tag("latest")
        refs = [ref]
    if not quiet:
        click.echo(f"The push refers to repository [{ref.name}]")
    for r in refs:
        push_one(app, r, opts, quiet)
    if quiet:
        click.echo(str(refs[0]) if len(refs) == 1 else ref.name)


def push_one(app: App, ref: Reference, opts: RegistryOptions, quiet: bool) -> None:
    try:
        local = app.images.open_target(str(ref))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") \
            from None
    provenance = BlobProvenance(app.root)
    dst = RegistryDestination(opts.registry(ref.domain), ref.path,
                              mount_hints=lambda d: provenance.repos(ref.domain, d))
    images = [local.child(d) for d in local.index.manifests] if isinstance(
        local, ImageIndex) else [local]
    labels = {}
    for img in images:
        if not isinstance(img, ImageIndex):  # Docker shows layers by diffID, top first
            labels.update({layer.digest: (layer.diff_id or layer.digest).short
                           for layer in reversed(img.layers())})
    view = LayerProgress("push", labels, quiet=quiet, mounted=dst.mounted,
                         existing=dst.existing)
    with interruptible():
        try:
            if isinstance(local, ImageIndex):
                digest = copy_index(local, dst, ref, progress=view, jobs=opts.jobs)
                raw, _ = local.index_bytes()
            else:
                digest = copy_image(local, dst, ref, progress=view, jobs=opts.jobs)
                raw, _ = local.manifest_bytes()
        finally:
            view.close()
    blobs = [d.digest for img in images if not isinstance(img, ImageIndex)
             for d in img.blobs()]
    provenance.add(ref.domain, ref.path, blobs)
    if not quiet:
        click.echo(f"{ref.tag}: digest: {digest} size: {len(raw)}")
