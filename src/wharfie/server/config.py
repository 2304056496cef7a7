"""A registry's configuration and what opens from it: the storage driver, the store and the
policy. Shared by the server, its maintenance schedule and the CLI, so none imports another."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.server.app import MAX_MANIFEST
from wharfie.server.policy import Policy
from wharfie.server.repositories import UPLOAD_TTL, RegistryStore
from wharfie.server.storage import Driver
from wharfie.server.storage.filesystem import FilesystemDriver


def default_data(root: Path) -> Path:
    """Where a registry keeps its state when none is named: beside the local image store."""
    return root / "registry"


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5000`` for IPv6) as a host and a port."""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise WharfieError(f"invalid --addr {addr!r}: want HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass
class ServerConfig:
    data: Path                       # local state: filesystem storage, audit log, auth files
    host: str = "127.0.0.1"
    port: int = 5000
    htpasswd: Path | None = None
    policy: Path | None = None
    token_auth: bool = True
    token_key: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_plain_http: bool = False
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_prefix: str = ""
    s3_region: str | None = None  # else AWS_REGION, AWS_DEFAULT_REGION, us-east-1
    s3_addressing_style: str | None = None  # path, virtual or auto
    s3_redirect: bool = False  # blob GETs answered with 307 to a presigned URL
    upload_ttl: float = UPLOAD_TTL
    max_manifest: int = MAX_MANIFEST
    maintenance_interval: float = 0.0  # run retention and gc this often (0: never)
    workers: int = 1  # server processes sharing the port
    token_realm: str | None = None  # the token service's URL in challenges
    foreign_urls: tuple[str, ...] = ()  # regexes: layers with such urls may be absent
    scan_on_push: bool = False  # scan each pushed image, keep the report as a referrer
    scan_db: Path | None = None  # the root whose vulnerability database scans use

    @property
    def realm(self) -> str:
        """The configured realm, else ``/token`` on the listen address (never a Host header)."""
        if self.token_realm:
            return self.token_realm
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/token"

    @property
    def robots_file(self) -> Path:
        return self.data / "auth" / "robots.json"

    @property
    def audit_file(self) -> Path:
        return self.data / "audit.log"


def open_driver(config: ServerConfig) -> Driver:
    if config.s3_bucket:
        from wharfie.server.storage.s3 import S3Driver

        return S3Driver(config.s3_bucket, endpoint_url=config.s3_endpoint,
                        prefix=config.s3_prefix, spool=config.data / "spool",
                        redirect=config.s3_redirect, region=config.s3_region,
                        addressing_style=config.s3_addressing_style)
    return FilesystemDriver(config.data / "storage")


def open_store(config: ServerConfig) -> RegistryStore:
    return RegistryStore(open_driver(config), upload_ttl=config.upload_ttl)


def load_policy(config: ServerConfig) -> Policy:
    return Policy.load(config.policy) if config.policy else Policy()
