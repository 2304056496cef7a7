"""``wharfie system df`` and ``wharfie system check [--repair]``."""

from __future__ import annotations

import sys

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import human_size, since, write_rows
from wharfie.cli.main import LazyGroup

# Further ``system`` subcommands: name -> "module:attribute".
SYSTEM_COMMANDS: dict[str, str] = {}

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}
DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                     "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                     "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}
DF_IMAGES_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
                   "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")


@click.group("system", cls=LazyGroup, lazy=SYSTEM_COMMANDS)
def system() -> None:
    """Manage wharfie's store."""


def out(text: str) -> None:
    sys.stdout.write(text)


@system.command("df")
@click.option("--format", "fmt", help="Format output using a custom template: 'table', "
              "'table TEMPLATE', 'json', or a Go template")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@pass_app
def df(app: App, fmt: str | None, verbose: bool) -> None:
    """Show disk usage: images, their shared and reclaimable bytes."""
    u = app.client.system_df()
    if verbose and not fmt:
        rows = []
        for iu in u.images:
            img = iu.image
            names = [(r.familiar_name, r.tag or "<none>") for r in img.repo_tags] or \
                [(r.familiar_name, "<none>") for r in img.repo_digests[:1]] or \
                [("<none>", "<none>")]
            for repo, tag in names:
                rows.append({"Repository": repo, "Tag": tag, "ID": img.id.short,
                             "CreatedSince": since(img.created_ts), "Size": human_size(iu.size),
                             "SharedSize": human_size(iu.shared),
                             "UniqueSize": human_size(iu.unique), "Containers": "0"})
        out("Images space usage:\n\n")
        write_rows(None, rows, default=DF_IMAGES_TABLE, headers=DF_IMAGES_HEADERS, echo=out)
        return
    images_size = u.total - u.cache_reclaimable  # cache-only blobs count in Build Cache
    reclaim = human_size(u.reclaimable, 4)
    if images_size:
        reclaim += f" ({u.reclaimable * 100 // images_size}%)"
    rows = [{"Type": "Images", "TotalCount": str(len(u.images)), "Active": str(u.active),
             "Size": human_size(images_size, 4), "Reclaimable": reclaim},
            {"Type": "Build Cache", "TotalCount": str(u.cache_blobs),
             "Active": str(u.cache_active), "Size": human_size(u.cache_size, 4),
             "Reclaimable": human_size(u.cache_reclaimable, 4)}]
    write_rows(fmt, rows, default=DF_TABLE, headers=DF_HEADERS, echo=out)


@system.command("check")
@click.option("--repair", is_flag=True,
              help="Remove broken tags, images and blobs, and abandoned ingest files")
@pass_app
def check(app: App, repair: bool) -> None:
    """Verify every blob digest and every reference; report (and repair) what is broken."""
    rep = app.client.check(repair=repair)
    lines = [f"checked {rep.blobs} blobs, {rep.images} manifests, {rep.references} references"]
    for p in rep.problems:
        lines.append(f"{p.subject}: {p.message}" + (f": {p.repair}" if p.repair else ""))
    if not rep.problems:
        lines.append("no problems found")
    elif rep.ok:
        lines.append(f"{len(rep.problems)} problem(s) repaired")
    else:
        lines.append(f"{len(rep.problems)} problem(s) found; "
                     "run 'wharfie system check --repair' to fix them")
    out("".join(line + "\n" for line in lines))
    if not rep.ok:
        sys.exit(1)
