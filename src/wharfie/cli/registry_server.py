"""``wharfie registry``: serve a registry, collect garbage, apply retention, manage users
and robots."""

from __future__ import annotations

from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.errors import WharfieError


def _data_dir(app: App, data: Path | None) -> Path:
    return data or app.root / "registry"


def _storage_options(f):
    f = click.option("--data", type=click.Path(path_type=Path),
                     help="Registry state directory (default ROOT/registry).")(f)
    f = click.option("--s3-bucket", help="Keep blobs and metadata in this S3 bucket.")(f)
    f = click.option("--s3-endpoint", help="S3-compatible endpoint URL.")(f)
    f = click.option("--s3-prefix", default="", help="Key prefix inside the bucket.")(f)
    f = click.option("--policy", type=click.Path(path_type=Path, exists=True),
                     help="Policy file (YAML or JSON): access, immutable tags, quotas, retention.")(f)
    return f


def _config(app: App, data, s3_bucket, s3_endpoint, s3_prefix, policy, **kw):
    from wharfie.registry.server import ServerConfig

    return ServerConfig(data=_data_dir(app, data), s3_bucket=s3_bucket,
                        s3_endpoint=s3_endpoint, s3_prefix=s3_prefix, policy=policy, **kw)


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
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True))
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True))
@click.option("--insecure-http", is_flag=True, help="Allow plain HTTP on a non-loopback address.")
@click.option("--upload-ttl", default=24 * 3600.0, show_default=True,
              help="Seconds before an unfinished upload expires.")
@_storage_options
@pass_app
def serve_cmd(app: App, addr: str, htpasswd, token_auth, token_key, tls_cert, tls_key,
              insecure_http, upload_ttl, **storage) -> None:
    """Serve the OCI distribution API."""
    from wharfie.registry.server import serve

    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise WharfieError(f"invalid --addr {addr!r}: want HOST:PORT")
    serve(_config(app, host=host.strip("[]"), port=int(port), htpasswd=htpasswd,
                  token_auth=token_auth, token_key=token_key, tls_cert=tls_cert,
                  tls_key=tls_key, allow_plain_http=insecure_http, upload_ttl=upload_ttl,
                  **storage))
