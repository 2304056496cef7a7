"""The registry's web interface at ``/ui/``: browse, inspect, delete and govern, under the
API's authentication and access policy (routes.py), with signed session cookies and CSRF
tokens (session.py), pages built from the store as the API reads it (views.py)."""

from __future__ import annotations

from aiohttp import web

from wharfie.server.ui.routes import UI
from wharfie.server.ui.session import Sessions

__all__ = ["mount_ui"]


def mount_ui(app: web.Application, registry, key: bytes, *, secure: bool = False) -> None:
    """Serve the interface for ``registry`` (a RegistryApp) on ``app``; ``key`` signs the
    session cookies (the token key); ``secure`` when served over TLS."""
    UI(registry, Sessions(key, secure=secure)).add_routes(app)
