"""npm packages installed in ``node_modules`` (``node_modules/NAME/package.json`` and
``node_modules/@scope/NAME/package.json``, at any depth)."""

from __future__ import annotations

import json
import posixpath

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package


def _is_package_json(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith("@")
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def _licenses(doc: dict) -> tuple[str, ...]:
    """``license`` as a string or ``{"type": ...}``; the old ``licenses`` list."""
    found = []
    for item in [doc.get("license")] + list(doc.get("licenses") or []):
        value = item.get("type") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
    return tuple(found)


def parse_package_json(path: str, data: bytes, ctx: Context) -> list[Package]:
    try:
        doc = json.loads(data)
    except ValueError:
        return []  # a broken package.json declares nothing (npm itself would refuse it)
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [Package(name=name, version=version, type="npm", location=path,
                    purl=purl.npm(name, version), licenses=_licenses(doc))]


NPM = Cataloger("npm", _is_package_json, parse_package_json)


def _is_lockfile(path: str) -> bool:
    return posixpath.basename(path) == "package-lock.json" and "node_modules/" not in path


def parse_lockfile(path: str, data: bytes, ctx: Context) -> list[Package]:
    """``package-lock.json`` v2/v3: every ``packages`` entry under ``node_modules/`` (the
    root project and links to workspace folders are not installed packages)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return []  # as for package.json: npm would refuse it too
    found = []
    for key, entry in ((doc.get("packages") if isinstance(doc, dict) else None) or {}).items():
        if "node_modules/" not in key or not isinstance(entry, dict) or entry.get("link"):
            continue
        name = entry.get("name") or key.rsplit("node_modules/", 1)[1]
        version = entry.get("version")
        if isinstance(version, str) and version:
            found.append(Package(name=name, version=version, type="npm", location=path,
                                 purl=purl.npm(name, version), licenses=_licenses(entry)))
    return found


NPM_LOCK = Cataloger("npm-lock", _is_lockfile, parse_lockfile)
