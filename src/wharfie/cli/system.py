"""``wharfie system df`` and ``wharfie system check [--repair]``."""

from __future__ import annotations

import sys
import time

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import ellipsis, human_size, prune_report, since, write_rows
from wharfie.cli.group import LazyGroup
from wharfie.cli.images import pruned_lines

# Further ``system`` subcommands: name -> "module:attribute".
SYSTEM_COMMANDS: dict[str, str] = {"info": "wharfie.cli.info:info",
                                   "events": "wharfie.cli.events:events"}

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}
DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                     "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                     "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}
DF_CONTAINERS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                         "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE",
                         "CreatedSince": "CREATED", "Status": "STATUS", "Names": "NAMES"}
DF_CONTAINERS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
                       "{{.CreatedSince}}\t{{.Status}}\t{{.Names}}")
DF_CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                    "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                    "UsageCount": "USAGE", "Shared": "SHARED"}
DF_CACHE_TABLE = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t"
                  "{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")
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
    """Show disk usage: images, containers, volumes and build cache."""
    u = app.client.system_df()
    if verbose and not fmt:
        _df_verbose(u)
        return
    im = u.images
    ctr_size = sum(c.size for c in u.containers)
    ctr_free = sum(c.size for c in u.containers if not c.active)
    rows = [_df_row("Images", len(im.images), im.active, im.layers_size, im.reclaimable),
            _df_row("Containers", len(u.containers), sum(c.active for c in u.containers),
                    ctr_size, ctr_free),
            _df_row("Local Volumes", 0, 0, 0, 0),
            {"Type": "Build Cache", "TotalCount": str(im.cache_blobs),
             "Active": str(im.cache_active), "Size": human_size(im.cache_size, 4),
             "Reclaimable": human_size(im.cache_reclaimable, 4)}]
    write_rows(fmt, rows, default=DF_TABLE, headers=DF_HEADERS, echo=out)


def _df_row(kind: str, total: int, active: int, size: int, reclaimable: int) -> dict:
    """A summary row; RECLAIMABLE carries its share of SIZE in percent, as Docker's does."""
    reclaim = human_size(reclaimable, 4)
    if size > 0:
        reclaim += f" ({reclaimable * 100 // size}%)"
    return {"Type": kind, "TotalCount": str(total), "Active": str(active),
            "Size": human_size(size, 4), "Reclaimable": reclaim}


def _df_verbose(u) -> None:
    """``docker system df -v``: one section per kind."""
    rows = []
    for iu in u.images.images:
        img = iu.image
        names = [(r.familiar_name, r.tag or "<none>") for r in img.repo_tags] or \
            [(r.familiar_name, "<none>") for r in img.repo_digests[:1]] or \
            [("<none>", "<none>")]
        for repo, tag in names:
            rows.append({"Repository": repo, "Tag": tag, "ID": img.id.short,
                         "CreatedSince": since(img.created_ts), "Size": human_size(iu.size),
                         "SharedSize": human_size(iu.shared),
                         "UniqueSize": human_size(iu.unique), "Containers": str(iu.containers)})
    out("Images space usage:\n\n")
    write_rows(None, rows, default=DF_IMAGES_TABLE, headers=DF_IMAGES_HEADERS, echo=out)
    from wharfie.cli.run import status_text

    now = time.time()
    rows = [{"ID": c.container.id[:12], "Image": c.container.image,
             "Command": ellipsis(f'"{" ".join(c.container.command)}"', 20),
             "LocalVolumes": "0", "Size": human_size(c.size),
             "CreatedSince": since(c.container.created),
             "Status": status_text(c.container, now),
             "Names": c.container.name} for c in u.containers]
    out("\nContainers space usage:\n\n")
    write_rows(None, rows, default=DF_CONTAINERS_TABLE, headers=DF_CONTAINERS_HEADERS, echo=out)
    out("\nLocal Volumes space usage:\n\n")
    write_rows(None, [], default="table {{.Name}}\t{{.Links}}\t{{.Size}}",
               headers={"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}, echo=out)
    out(f"\nBuild cache usage: {human_size(u.images.cache_size, 4)}\n\n")
    write_rows(None, [], default=DF_CACHE_TABLE, headers=DF_CACHE_HEADERS, echo=out)


PRUNE_WARNING = ("WARNING! This will remove:\n  - all stopped containers\n"
                 "  - all networks not used by at least one container\n")


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all unused images not just dangling ones")
@click.option("--volumes", is_flag=True, help="Prune volumes")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_app
def prune(app: App, all_: bool, volumes: bool, force: bool) -> None:
    """Remove unused data: stopped containers, dangling (-a: unused) images, build cache."""
    if not force:
        warning = PRUNE_WARNING
        if volumes:
            warning += "  - all volumes not used by at least one container\n"
        warning += ("  - all images without at least one container associated to them\n"
                    "  - all build cache\n" if all_ else
                    "  - all dangling images\n  - all dangling build cache\n")
        out(warning + "\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    r = app.client.system_prune(all=all_, volumes=volumes)
    out(prune_report([
        ("Deleted Containers", r.containers), ("Deleted Volumes", r.volumes),
        ("Deleted Images", pruned_lines(r.images)),
        ("Deleted build cache objects",
         [c.layer.digest.hex[:25] if c.layer else "(empty step)" for c in r.cache.deleted])],
        r.reclaimed))


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
