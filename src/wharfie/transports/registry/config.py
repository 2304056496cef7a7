"""Where a registry name is served, and how to reach it: the endpoints to try, in order.

``docker.io`` is Docker Hub, served at ``registry-1.docker.io`` as in every Docker tool.
Mirrors come first (pulls only; push always goes to the registry itself), then the
registry's own endpoint, as docker's ``registry-mirrors``. They are set by
``WHARFIE_REGISTRY_MIRRORS`` (``NAME=HOST[:PORT],...``) and by registries files in
containers' ``registries.conf`` v2 vocabulary, plus ``ca-file``:

    [[registry]]
    location = "docker.io"
    [[registry.mirror]]
    location = "127.0.0.1:5000"

    [[registry]]
    location = "registry.internal:5000"
    insecure = true                          # plain HTTP or unverified TLS
    ca-file = "/etc/wharfie/internal-ca.pem" # trust this CA for it

Files read (later ones win for the same location): ``/etc/containers/registries.conf``,
``~/.config/containers/registries.conf``, ``/etc/wharfie/registries.toml``,
``~/.config/wharfie/registries.toml``; ``$WHARFIE_REGISTRIES_CONFIG`` names the only file
to read instead (empty: none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import WharfieError

# docker's registry.IndexServer / DefaultV2Registry: the name and where it is served.
DEFAULT_ENDPOINTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


@dataclass(frozen=True)
class Endpoint:
    """One place that serves a registry's API: ``host`` is HOST[:PORT]."""

    host: str
    insecure: bool = False  # plain HTTP allowed, certificates unchecked
    ca_file: str | None = None
    mirror: bool = False


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table: settings for the registry ``location``."""

    location: str
    insecure: bool = False
    ca_file: str | None = None
    mirrors: tuple[Endpoint, ...] = ()


@dataclass
class RegistriesConfig:
    """Every registries file, merged: location -> entry."""

    entries: dict[str, RegistryEntry] = field(default_factory=dict)

    def endpoints(self, name: str, env_mirrors: dict[str, str], *,
                  push: bool = False) -> list[Endpoint]:
        """Where to reach registry ``name``: its mirrors first (not for a push), then itself."""
        entry = self.entries.get(name) or RegistryEntry(name)
        own = Endpoint(DEFAULT_ENDPOINTS.get(name, name), entry.insecure, entry.ca_file)
        if push:
            return [own]
        mirrors = [Endpoint(env_mirrors[name], mirror=True)] if name in env_mirrors else []
        return [*mirrors, *entry.mirrors, own]


def config_paths() -> list[Path]:
    """The registries files to read, lowest precedence first."""
    chosen = os.environ.get("WHARFIE_REGISTRIES_CONFIG")
    if chosen is not None:
        return [Path(chosen)] if chosen else []
    home = Path.home() / ".config"
    return [Path("/etc/containers/registries.conf"), home / "containers" / "registries.conf",
            Path("/etc/wharfie/registries.toml"), home / "wharfie" / "registries.toml"]


def load(paths: list[Path] | None = None) -> RegistriesConfig:
    """Read the registries files that exist (see ``config_paths``)."""
    config = RegistriesConfig()
    for path in config_paths() if paths is None else paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as e:
            raise WharfieError(f"{path}: cannot read the registries file: {e}") from None
        import tomllib  # only when there is a file: most pulls and pushes read none

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise WharfieError(f"{path}: cannot read the registries file: {e}") from None
        for table in _tables(doc, path):
            entry = _entry(table, path)
            if entry is not None:
                config.entries[entry.location] = entry
    return config


def _tables(doc: dict, path: Path) -> list[dict]:
    tables = doc.get("registry", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise WharfieError(f"{path}: [[registry]] must be a list of tables")
    return tables


def _entry(table: dict, path: Path) -> RegistryEntry | None:
    """One ``[[registry]]``; None for a location with a namespace (``host/ns``), which
    only containers' prefix matching can use."""
    location = _location(table, path)
    if "/" in location:
        return None
    mirrors = table.get("mirror", [])
    if not isinstance(mirrors, list) or not all(isinstance(m, dict) for m in mirrors):
        raise WharfieError(f"{path}: [[registry.mirror]] of {location} must be tables")
    return RegistryEntry(location, _flag(table, "insecure", path), _ca(table, path),
                         tuple(Endpoint(_location(m, path), _flag(m, "insecure", path),
                                        _ca(m, path), mirror=True) for m in mirrors))


def _location(table: dict, path: Path) -> str:
    location = table.get("location")
    if not isinstance(location, str) or not location.strip("/ "):
        raise WharfieError(f"{path}: every registry and mirror needs a location string")
    return location.strip().removeprefix("https://").removeprefix("http://").rstrip("/")


def _flag(table: dict, key: str, path: Path) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise WharfieError(f"{path}: {key} of {table.get('location')} must be true or false")
    return value


def _ca(table: dict, path: Path) -> str | None:
    value = table.get("ca-file")
    if value is not None and not isinstance(value, str):
        raise WharfieError(f"{path}: ca-file of {table.get('location')} must be a path")
    return value
