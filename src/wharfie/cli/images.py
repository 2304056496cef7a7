"""The local image commands: images (image ls), tag, rmi (image rm), inspect, history, prune.

Thin: each parses Docker's flags, calls wharfie.api.Client, and renders rows with
cli.format. Everything here is imported only when one of these commands runs.
"""

from __future__ import annotations

import sys
import time

import click

from wharfie.api import ImageSummary
from wharfie.cli.completion import complete_images
from wharfie.cli.context import App, pass_app
from wharfie.cli.format import (
    ellipsis,
    go_json,
    go_rfc3339,
    go_time,
    human_size,
    prune_report,
    since,
    write_rows,
)
from wharfie.errors import NotFound, WharfieError

IMAGE_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE", "CompressedSize": "COMPRESSED SIZE",
}
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
                        "{{.CreatedSince}}\t{{.Size}}")
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def out(text: str) -> None:
    sys.stdout.write(text)


def short_id(digest: str, trunc: bool) -> str:
    return digest.partition(":")[2][:12] if trunc else digest


def image_rows(images: list[ImageSummary], *, digests: bool, trunc: bool) -> list[dict]:
    """One row per repository:tag (and digest), as Docker's imageFormatTaggedAndDigest."""
    now = time.time()
    rows = []
    for img in images:
        base = {"ID": short_id(img.id, trunc), "CreatedSince": since(img.created, now),
                "CreatedAt": go_time(img.created or 0), "Size": human_size(img.size),
                "Containers": "N/A", "VirtualSize": human_size(img.size),
                "SharedSize": "N/A", "UniqueSize": "N/A",
                "CompressedSize": human_size(img.compressed_size)}
        if not img.repo_tags and not img.repo_digests:
            rows.append({**base, "Repository": "<none>", "Tag": "<none>", "Digest": "<none>"})
            continue
        tags: dict[str, list[str]] = {}
        for r in img.repo_tags:
            tags.setdefault(r.familiar_name, []).append(r.tag or "")
        repo_digests: dict[str, list[str]] = {}
        for r in img.repo_digests:
            repo_digests.setdefault(r.familiar_name, []).append(str(r.digest))
        for repo, repo_tags in tags.items():
            ds = repo_digests.pop(repo, [])  # a tagged repository's digests: never own rows
            if not digests:
                ds = []
            for tag in repo_tags:
                for d in ds or ["<none>"]:
                    rows.append({**base, "Repository": repo, "Tag": tag, "Digest": d})
        for repo, ds in repo_digests.items():
            for d in ds if digests else ["<none>"]:
                rows.append({**base, "Repository": repo, "Tag": "<none>", "Digest": d})
    return rows


@click.command("images")
@click.argument("repository", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("-f", "--filter", "filters", multiple=True, metavar="FILTER",
              help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template: 'table', "
              "'table TEMPLATE', 'json', or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@pass_app
def images(app: App, repository: str | None, all_: bool, digests: bool, filters: tuple[str, ...],
           fmt: str | None, no_trunc: bool, quiet: bool) -> None:
    """List images."""
    listed = app.client.images(filters, all=all_, repository=repository)
    if quiet and (not fmt or fmt.startswith("table")):
        fmt = "{{.ID}}"
    show_digests = digests or bool(fmt and "{{.Digest}}" in fmt)
    rows = image_rows(listed, digests=show_digests, trunc=not no_trunc)
    write_rows(fmt, rows, default=IMAGES_DIGESTS_TABLE if digests else IMAGES_TABLE,
               headers=IMAGE_HEADERS, echo=out, extra=("CompressedSize",))


@click.command("tag")
@click.argument("source", shell_complete=complete_images)
@click.argument("target")
@pass_app
def tag(app: App, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    app.client.tag(source, target)


@click.command("rmi")
@click.argument("names", metavar="IMAGE...", nargs=-1, required=True,
                shell_complete=complete_images)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@pass_app
def rmi(app: App, names: tuple[str, ...], force: bool) -> None:
    """Remove one or more images."""
    failed = 0
    for name in names:
        try:
            removal = app.client.remove(name, force=force)
        except WharfieError as e:
            click.echo(f"wharfie: error: {e.message}", err=True)
            failed = e.exit_code or 1
            continue
        lines = [f"Untagged: {r.familiar()}" for r in removal.untagged]
        lines += [f"Deleted: {d}" for d in removal.deleted_images]
        lines += [f"Deleted: {d}" for d in removal.deleted_layers]
        out("".join(line + "\n" for line in lines))
    if failed:
        sys.exit(failed)


def _inspect(app: App, names: tuple[str, ...], fmt: str | None, *, generic: bool,
             size: bool = False, type_: str | None = None) -> None:
    """Docker prints what it found, then one error per name it did not find, and exits 1.
    ``generic`` (``inspect``, not ``image inspect``) finds containers first, then images."""
    found, failed = [], False
    for name in names:
        try:
            found.append(app.client.inspect_object(name, type_) if generic or type_
                         else app.client.inspect(name))
        except NotFound as e:  # `docker inspect` looks for any object, not only images
            click.echo(f"wharfie: error: {f'No such object: {name}' if generic else e.message}",
                       err=True)
            failed = True
        except WharfieError as e:
            click.echo(f"wharfie: error: {e.message}", err=True)
            failed = True
    write_inspect(found, fmt)
    if size and any("RepoTags" in doc for doc in found):
        click.echo("WARNING: --size ignored for image", err=True)
    if failed:
        sys.exit(1)


def write_inspect(found: list[dict], fmt: str | None) -> None:
    """Docker's inspect output: an indented JSON array, or each object through ``--format``."""
    if fmt == "json":
        out("".join(go_json(x) + "\n" for x in found))
    elif fmt:
        from wharfie.cli.format import Template

        t = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
        out("".join(t.render(x) + "\n" for x in found))
    else:
        out(go_json(found, indent=4) + "\n" if found else "[]\n")


@click.command("inspect")
@click.argument("names", metavar="NAME...", nargs=-1, required=True,
                shell_complete=complete_images)
@click.option("-f", "--format", "fmt", help="Format output using a custom template: 'json', "
              "or a Go template")
@click.option("--type", "type_",
              help="Only inspect objects of the given type (container or image)")
@click.option("--remote", is_flag=True,
              help="Inspect the image in its registry, without pulling it (like skopeo inspect)")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is "
              "container (images have no containers' sizes: ignored, as docker does)")
@pass_app
def inspect(app: App, names: tuple[str, ...], fmt: str | None, type_: str | None,
            remote: bool, size: bool) -> None:
    """Return low-level information on containers or images."""
    if type_ not in (None, "image", "container"):
        raise WharfieError(f'"{type_}" is not a valid value for --type')
    if remote:
        docs = [app.client.inspect_remote(n) for n in names]
        write_inspect(docs, fmt)
    else:
        _inspect(app, names, fmt, generic=type_ is None, size=size, type_=type_)


@click.command("inspect")
@click.argument("names", metavar="IMAGE...", nargs=-1, required=True,
                shell_complete=complete_images)
@click.option("-f", "--format", "fmt", help="Format output using a custom template: 'json', "
              "or a Go template")
@pass_app
def image_inspect(app: App, names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more images."""
    _inspect(app, names, fmt, generic=False)


@click.command("history")
@click.argument("name", metavar="IMAGE", shell_complete=complete_images)
@click.option("--format", "fmt", help="Format output using a custom template: 'table', "
              "'table TEMPLATE', 'json', or a Go template")
@click.option("-H", "--human", type=bool, default=True, show_default=True,
              help="Print sizes and dates in human readable format")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@pass_app
def history(app: App, name: str, fmt: str | None, human: bool, no_trunc: bool,
            quiet: bool) -> None:
    """Show the history of an image."""
    entries = app.client.history(name)
    now = time.time()
    rows = []
    for e in entries:
        created_at = go_rfc3339(e.created)
        by = e.created_by.replace("\t", " ")
        rows.append({
            "ID": short_id(e.id, True) if e.id != "<missing>" and not no_trunc else e.id,
            "CreatedSince": since(e.created, now) if human else created_at,
            "CreatedAt": created_at,
            "CreatedBy": by if no_trunc else ellipsis(by, 45),
            "Size": human_size(e.size) if human else str(e.size),
            "Comment": e.comment,
        })
    if quiet and (not fmt or fmt.startswith("table")):
        fmt = "{{.ID}}"
    write_rows(fmt, rows, default=HISTORY_TABLE, headers=HISTORY_HEADERS, echo=out)


def pruned_lines(removals: list) -> list[str]:
    """Docker's ``Deleted Images:`` lines of a prune."""
    lines = []
    for r in removals:
        lines += [f"untagged: {x.familiar()}" for x in r.untagged]
        lines += [f"deleted: {d}" for d in r.deleted_images]
        lines += [f"deleted: {d}" for d in r.deleted_layers]
    return lines


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all unused images, not just dangling ones")
@click.option("--filter", "filters", multiple=True, metavar="FILTER",
              help="Provide filter values (e.g. \"until=<timestamp>\")")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_app
def prune(app: App, all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused images."""
    if not force:
        what = ("all images without at least one container associated to them" if all_
                else "all dangling images")
        out(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    removals = app.client.prune(all=all_, filters=filters)
    out(prune_report([("Deleted Images", pruned_lines(removals))],
                     sum(r.reclaimed for r in removals), 4))
