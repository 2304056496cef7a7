"""Rust crates: ``Cargo.lock`` files in the image and the dependency list cargo-auditable
embeds in binaries (the zlib-compressed JSON of the ``.dep-v0`` section)."""

from __future__ import annotations

import json
import posixpath
import tomllib
import zlib

from wharfie.errors import InvalidInput
from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package


def _crate(name: str, version: str, location: str) -> Package:
    return Package(name=name, version=version, type="rust-crate", location=location,
                   purl=purl.purl("cargo", name, version))


def parse_cargo_lock(path: str, data: bytes, ctx: Context) -> list[Package]:
    """Every ``[[package]]`` of a lock file (workspace members too, as syft lists them)."""
    try:
        doc = tomllib.loads(data.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{path}: not a Cargo.lock: {err}") from None
    return [_crate(p["name"], p["version"], path) for p in doc.get("package") or []
            if isinstance(p, dict) and isinstance(p.get("name"), str)
            and isinstance(p.get("version"), str)]


def auditable_packages(section: bytes, location: str) -> list[Package]:
    """The crates of a ``.dep-v0`` section; build-time-only crates are left out (they are
    not in the binary)."""
    try:
        doc = json.loads(zlib.decompress(section))
    except (zlib.error, ValueError) as err:
        raise InvalidInput(f"{location}: bad cargo-auditable section: {err}") from None
    return [_crate(p["name"], p["version"], location) for p in doc.get("packages") or []
            if p.get("kind", "runtime") == "runtime"]


CARGO_LOCK = Cataloger("rust-cargo-lock", lambda p: posixpath.basename(p) == "Cargo.lock",
                       parse_cargo_lock)
