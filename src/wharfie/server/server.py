"""Assemble and run a registry server from its configuration."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import re
import signal
import ssl
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from aiohttp import web

from wharfie.errors import WharfieError
from wharfie.server.app import RegistryApp, Settings
from wharfie.server.audit import AuditLog
from wharfie.server.auth import Access, OpenAccess, load_token_key
from wharfie.server.auth.robots import Robots
from wharfie.server.auth.users import Htpasswd
from wharfie.server.config import ServerConfig, load_policy, open_store
from wharfie.server.maintenance import run_gc, run_retention
from wharfie.server.pulls import FLUSH_EVERY, PullTimes
from wharfie.server.repositories import RegistryStore
from wharfie.server.scanning import ScanQueue, require_database
from wharfie.server.ui import mount_ui


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _patterns(regexes: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    try:
        return tuple(re.compile(r) for r in regexes)
    except re.error as e:
        raise WharfieError(f"invalid --allow-foreign-url {e.pattern!r}: {e}") from None


def build_app(config: ServerConfig) -> tuple[web.Application, RegistryStore]:
    store = open_store(config)
    policy = load_policy(config)
    robots = Robots(config.robots_file)
    if config.htpasswd or policy.users or policy.rules or robots.list():
        key = (load_token_key(config.token_key or config.data / "auth" / "token.key")
               if config.token_auth else None)
        access: OpenAccess = Access(policy, Htpasswd(config.htpasswd, policy.users), robots,
                                    key, realm=config.realm)
    else:
        access = OpenAccess()
    audit = AuditLog(config.audit_file)
    scans = _scan_queue(config, store)
    pulls = PullTimes(store)
    registry = RegistryApp(store, access=access, audit=audit,
                           settings=Settings(max_manifest=config.max_manifest, policy=policy,
                                             foreign_urls=_patterns(config.foreign_urls),
                                             on_manifest=scans.pushed if scans else None,
                                             pulls=pulls))
    app = registry.web_app()
    ui_key = load_token_key(config.token_key or config.data / "auth" / "token.key")
    mount_ui(app, registry, ui_key, secure=bool(config.tls_cert))

    async def purge_uploads(app: web.Application):
        async def loop():
            while True:
                await asyncio.to_thread(store.purge_expired_uploads)
                await asyncio.sleep(min(600.0, max(config.upload_ttl / 4, 1.0)))

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        audit.close()

    app.cleanup_ctx.append(purge_uploads)
    app.cleanup_ctx.append(_writing_behind(pulls))
    if scans is not None:
        app.cleanup_ctx.append(_scanning(scans))
    if config.maintenance_interval > 0:
        app.cleanup_ctx.append(_maintenance(config, store))
    return app, store


def _scan_queue(config: ServerConfig, store: RegistryStore) -> ScanQueue | None:
    return ScanQueue(store, _scan_db(config)) if config.scan_on_push else None


def _scan_db(config: ServerConfig) -> Path:
    """The root of the vulnerability database scans on push use; refused when absent."""
    if config.scan_db is None:
        raise WharfieError("scan on push needs a vulnerability database: set scan_db")
    require_database(config.scan_db)
    return config.scan_db


def _scanning(scans: ScanQueue):
    """The scan-on-push worker runs while the server does (in each worker process)."""
    async def ctx(app: web.Application):
        scans.start()
        yield
        await asyncio.to_thread(scans.stop)

    return ctx


def _writing_behind(pulls: PullTimes):
    """Pull times go to storage every FLUSH_EVERY seconds and when the server stops; a failed
    write is logged and retried at the next flush."""
    async def flush() -> None:
        try:
            await asyncio.to_thread(pulls.flush)
        except Exception as e:  # storage down: the notes are kept for the next try
            logging.getLogger("wharfie.server").warning("last-pulled times not written: %s", e)

    async def ctx(app: web.Application):
        async def loop():
            while True:
                await asyncio.sleep(FLUSH_EVERY)
                await flush()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await flush()

    return ctx


def _maintenance(config: ServerConfig, store: RegistryStore):
    """A background task: retention (when the policy has rules), then gc, on a schedule."""
    async def ctx(app: web.Application):
        async def loop():
            while True:
                await asyncio.sleep(config.maintenance_interval)
                if config.policy and load_policy(config).retention:
                    await asyncio.to_thread(run_retention, config, store=store)
                await asyncio.to_thread(run_gc, config, store=store)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


# Common log format (the user field stays "-"), one line per request, as docker-registry's.
ACCESS_LOG_FORMAT = '%a - - %t "%r" %s %b'


def storage_description(config: ServerConfig) -> str:
    """Where the blobs live, for the start line."""
    if config.s3_bucket:
        return f"s3://{config.s3_bucket}/{config.s3_prefix}".rstrip("/") + (
            f" at {config.s3_endpoint}" if config.s3_endpoint else "")
    return str(config.data / "storage")


def _access_logger(stream: TextIO | None) -> logging.Logger | None:
    """A logger writing bare lines to ``stream`` (None: no access log)."""
    if stream is None:
        return None
    log = logging.getLogger("wharfie.server.access")
    log.propagate, log.level = False, logging.INFO
    if not log.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    return log


def _run(app: web.Application, config: ServerConfig, ssl_ctx: ssl.SSLContext | None,
         announce: Callable[[str], None] | None, access: logging.Logger | None,
         **kw) -> None:
    """aiohttp's run_app, with our start line and access log; a busy port is one error."""
    scheme = "https" if ssl_ctx else "http"
    start = (f"wharfie registry: listening on {scheme}://{config.host}:{config.port}, "
             f"storage {storage_description(config)}")
    try:
        web.run_app(app, host=config.host, port=config.port, ssl_context=ssl_ctx,
                    access_log=access, access_log_format=ACCESS_LOG_FORMAT,
                    print=(lambda _: announce(start)) if announce else None,
                    handle_signals=True, **kw)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise WharfieError(f"cannot listen on {config.host}:{config.port}: the address "
                               "is already in use") from None
        raise


def serve(config: ServerConfig, *, announce: Callable[[str], None] | None = None,
          access_log: TextIO | None = None) -> None:
    """Run until interrupted. Plain HTTP only on loopback unless explicitly allowed.
    ``announce`` gets the start line once listening; requests are logged to ``access_log``."""
    ssl_ctx = None
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise WharfieError("--tls-cert and --tls-key go together")
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(config.tls_cert, config.tls_key)
    elif not _is_loopback(config.host) and not config.allow_plain_http:
        raise WharfieError(
            f"refusing plain HTTP on {config.host}: give --tls-cert/--tls-key, "
            "or --insecure-http to allow it")
    if config.scan_on_push:
        _scan_db(config)
    access = _access_logger(access_log)
    if config.workers <= 1:
        app, _ = build_app(config)
        _run(app, config, ssl_ctx, announce, access)
        return
    _serve_workers(config, ssl_ctx, announce, access)


def _serve_workers(config: ServerConfig, ssl_ctx: ssl.SSLContext | None,
                   announce: Callable[[str], None] | None = None,
                   access: logging.Logger | None = None) -> None:
    """One event loop per core: forked workers share the port (SO_REUSEPORT) and the
    storage, which several processes may serve at once. Only the first runs maintenance."""
    children: list[int] = []
    for i in range(config.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                worker = replace(config, workers=1,
                                 maintenance_interval=config.maintenance_interval if i == 0
                                 else 0.0)
                app, _ = build_app(worker)
                _run(app, config, ssl_ctx, announce if i == 0 else None, access,
                     reuse_port=True)
            except BaseException:
                logging.getLogger("wharfie.server").exception("worker %d failed", i)
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def stop(signum, frame) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = False
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) not in (0, -signal.SIGTERM, -signal.SIGINT):
            failed = True
            stop(None, None)
    if failed:
        raise WharfieError("a registry worker failed (see the log above)")
