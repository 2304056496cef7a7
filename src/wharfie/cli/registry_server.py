"""``wharfie registry``: serve a registry, collect garbage, apply retention, manage users
and robots."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.errors import WharfieError


def _data_dir(app: App, data: Path | None) -> Path:
    from wharfie.server.config import default_data

    return data or default_data(app.root)


def _storage_options(f):
    f = click.option("--data", type=click.Path(path_type=Path),
                     help="Registry state directory (default ROOT/registry).")(f)
    f = click.option("--s3-bucket", help="Keep blobs and metadata in this S3 bucket.")(f)
    f = click.option("--s3-endpoint", help="S3-compatible endpoint URL.")(f)
    f = click.option("--s3-prefix", default="", help="Key prefix inside the bucket.")(f)
    f = click.option("--s3-region",
                     help="The store's region (default AWS_REGION, else us-east-1).")(f)
    f = click.option("--s3-addressing-style", type=click.Choice(["path", "virtual", "auto"]),
                     help="Bucket in the path or the host name (default: path with "
                          "--s3-endpoint).")(f)
    f = click.option("--policy", type=click.Path(path_type=Path, exists=True),
                     help="Policy file (YAML or JSON): access, immutable tags, quotas, retention.")(f)
    return f


def _config(app: App, data, s3_bucket, s3_endpoint, s3_prefix, s3_region,
            s3_addressing_style, policy, **kw):
    from wharfie.server.config import ServerConfig

    return ServerConfig(data=_data_dir(app, data), s3_bucket=s3_bucket,
                        s3_endpoint=s3_endpoint, s3_prefix=s3_prefix, s3_region=s3_region,
                        s3_addressing_style=s3_addressing_style, policy=policy, **kw)


@click.group("registry")
def registry() -> None:
    """Run and maintain a private registry."""


@registry.command("serve")
@click.option("--addr", default="127.0.0.1:5000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--htpasswd", type=click.Path(path_type=Path), help="Users (bcrypt htpasswd file).")
@click.option("--token-auth/--basic-auth", default=True, show_default=True,
              help="Challenge with Docker's token flow, or with plain Basic auth.")
@click.option("--token-key", type=click.Path(path_type=Path),
              help="Token signing key file (shared by servers on the same storage).")
@click.option("--token-realm", help="Token service URL for challenges "
              "(default: /token on --addr).")
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True))
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True))
@click.option("--insecure-http", is_flag=True, help="Allow plain HTTP on a non-loopback address.")
@click.option("--upload-ttl", default=24 * 3600.0, show_default=True,
              help="Seconds before an unfinished upload expires.")
@click.option("--s3-redirect", is_flag=True,
              help="Send blob GETs to presigned S3 URLs (307) instead of through the server.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port (one per core scales reads).")
@click.option("--max-manifest-size", default="4MiB", show_default=True,
              help="Refuse bigger manifests (413).")
@click.option("--allow-foreign-url", "foreign_urls", multiple=True, metavar="REGEX",
              help="Accept layers with these urls without their blob (repeatable; default: "
                   "refuse foreign urls).")
@click.option("--maintenance-every", default="0s", show_default=True,
              help="Run retention and gc on this schedule, e.g. 6h (0s: never).")
@click.option("--scan-on-push", is_flag=True,
              help="Scan each pushed image in the background; keep the SARIF report as "
                   "its referrer.")
@click.option("--scan-db", type=click.Path(path_type=Path, file_okay=False),
              help="The root whose vulnerability database (`wharfie --root DIR db import`) "
                   "scans use (default: --root).")
@click.option("-q", "--quiet", is_flag=True, help="No start line and no access log.")
@_storage_options
@pass_app
def serve_cmd(app: App, addr: str, htpasswd, token_auth, token_key, token_realm, tls_cert,
              tls_key,
              insecure_http, upload_ttl, s3_redirect, workers, max_manifest_size,
              maintenance_every, foreign_urls, scan_on_push, scan_db, quiet,
              **storage) -> None:
    """Serve the OCI distribution API."""
    from wharfie.server.config import parse_addr
    from wharfie.server.policy import parse_duration
    from wharfie.server.server import serve
    from wharfie.units import parse_size

    logging.basicConfig(level=logging.INFO if app.debug else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    host, port = parse_addr(addr)
    serve(_config(app, host=host, port=port, htpasswd=htpasswd,
                  token_auth=token_auth, token_key=token_key, token_realm=token_realm,
                  tls_cert=tls_cert,
                  tls_key=tls_key, allow_plain_http=insecure_http, upload_ttl=upload_ttl,
                  max_manifest=parse_size(max_manifest_size), workers=workers,
                  s3_redirect=s3_redirect, foreign_urls=tuple(foreign_urls),
                  maintenance_interval=parse_duration(maintenance_every),
                  scan_on_push=scan_on_push, scan_db=scan_db or app.root, **storage),
          announce=None if quiet else lambda line: click.echo(line, err=True),
          access_log=None if quiet else sys.stdout)


@registry.group("user")
def user_group() -> None:
    """Manage users in an htpasswd file (bcrypt)."""


@user_group.command("add")
@click.argument("htpasswd", type=click.Path(path_type=Path))
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(htpasswd: Path, name: str, password_stdin: bool) -> None:
    """Add a user, or change a user's password."""
    from wharfie.server.auth.users import Htpasswd

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    Htpasswd(htpasswd).set(name, password)


@user_group.command("remove")
@click.argument("htpasswd", type=click.Path(path_type=Path))
@click.argument("name")
def user_remove(htpasswd: Path, name: str) -> None:
    """Remove a user."""
    from wharfie.server.auth.users import Htpasswd

    Htpasswd(htpasswd).remove(name)


@user_group.command("list")
@click.argument("htpasswd", type=click.Path(path_type=Path, exists=True))
def user_list(htpasswd: Path) -> None:
    """List users."""
    from wharfie.server.auth.users import Htpasswd

    for name in Htpasswd(htpasswd).users():
        click.echo(name)


@registry.group("robot")
def robot_group() -> None:
    """Manage robot accounts (tokens for CI); they sign in as robot$NAME."""


def _robots(app: App, data: Path | None):
    from wharfie.server.auth.robots import Robots
    from wharfie.server.config import ServerConfig

    return Robots(ServerConfig(data=_data_dir(app, data)).robots_file)


@robot_group.command("create")
@click.argument("name")
@click.option("--repo", "repos", multiple=True, required=True,
              help="Repository pattern the robot may use (repeatable).")
@click.option("--action", "actions", multiple=True, default=("pull",), show_default=True,
              type=click.Choice(["pull", "push", "delete"]))
@click.option("--expires", help="Lifetime, e.g. 30d or 12h (default: none).")
@click.option("--data", type=click.Path(path_type=Path), help="Registry state directory.")
@pass_app
def robot_create(app: App, name, repos, actions, expires, data) -> None:
    """Create a robot (or re-key it) and print its token once."""
    from wharfie.server.policy import parse_duration

    ttl = parse_duration(expires) if expires else None
    click.echo(_robots(app, data).create(name, list(repos), list(actions), ttl))


@robot_group.command("remove")
@click.argument("name")
@click.option("--data", type=click.Path(path_type=Path), help="Registry state directory.")
@pass_app
def robot_remove(app: App, name: str, data) -> None:
    """Delete a robot; its token stops working at once."""
    _robots(app, data).remove(name)


@robot_group.command("list")
@click.option("--data", type=click.Path(path_type=Path), help="Registry state directory.")
@pass_app
def robot_list(app: App, data) -> None:
    """List robots and their grants as JSON."""
    click.echo(json.dumps(_robots(app, data).list(), indent=2, sort_keys=True))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@registry.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@click.option("--delete-untagged", is_flag=True,
              help="Also delete manifests no tag reaches (older than the grace period).")
@click.option("--grace", default="1h", show_default=True,
              help="Leave anything written or used this recently (at least 2m).")
@_storage_options
@pass_app
def gc_cmd(app: App, dry_run: bool, delete_untagged: bool, grace: str, **storage) -> None:
    """Delete blobs (and untagged manifests) nothing references. Safe while serving."""
    from wharfie.server.maintenance import run_gc
    from wharfie.server.policy import parse_duration

    report = run_gc(_config(app, **storage), dry_run=dry_run, delete_untagged=delete_untagged,
                    grace=parse_duration(grace))
    verb = "would delete" if dry_run else "deleted"
    for repo, d in report.manifests:
        click.echo(f"{verb} manifest {repo}@{d}")
    for d, size in report.blobs:
        click.echo(f"{verb} blob {d} ({_size(size)})")
    click.echo(f"{verb} {len(report.manifests)} manifests, {len(report.blobs)} blobs, "
               f"{_size(report.freed)}; kept {report.kept_blobs} blobs")


@registry.command("retention")
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@_storage_options
@pass_app
def retention_cmd(app: App, dry_run: bool, **storage) -> None:
    """Apply the policy file's retention rules (then run gc to reclaim space)."""
    from wharfie.server.maintenance import run_retention

    report = run_retention(_config(app, **storage), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for repo, tag, d in report.tags:
        click.echo(f"{verb} tag {repo}:{tag} ({d})")
    for repo, d in report.manifests:
        click.echo(f"{verb} untagged manifest {repo}@{d}")
    click.echo(f"{verb} {len(report.tags)} tags, {len(report.manifests)} untagged manifests")


@registry.command("scrub")
@click.option("--delete", "delete_damaged", is_flag=True,
              help="Delete damaged blobs (clients then see them missing and re-push).")
@_storage_options
@pass_app
def scrub_cmd(app: App, delete_damaged: bool, **storage) -> None:
    """Re-hash every blob; report (and with --delete remove) the damaged ones."""
    from wharfie.server.maintenance import run_scrub

    report = run_scrub(_config(app, **storage), delete=delete_damaged, on_damaged=lambda bad:
                       click.echo(f"damaged blob {bad.digest}: content hashes to {bad.actual}"))
    click.echo(f"checked {report.checked} blobs, {len(report.damaged)} damaged"
               + (", deleted" if report.deleted and report.damaged else ""))
    if report.damaged and not report.deleted:
        raise WharfieError(f"{len(report.damaged)} damaged blobs "
                           "(run with --delete to remove them)")
