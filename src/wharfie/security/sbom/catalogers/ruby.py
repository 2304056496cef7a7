"""Installed Ruby gems: ``specifications/*.gemspec`` (the ``s.name = "..."`` lines
RubyGems writes; nothing is evaluated)."""

from __future__ import annotations

import posixpath
import re

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package

_FIELD = re.compile(r"""^\s*\w+\.(name|version|licenses?)\s*=\s*(.+?)\s*$""", re.M)
_STRING = re.compile(r"""["']([^"']*)["']""")


def _is_gemspec(path: str) -> bool:
    return path.endswith(".gemspec") and posixpath.basename(posixpath.dirname(path)) \
        == "specifications"


def parse_gemspec(path: str, data: bytes, ctx: Context) -> list[Package]:
    fields: dict[str, list[str]] = {}
    for key, value in _FIELD.findall(data.decode("utf-8", "replace")):
        value = re.sub(r"\.freeze\b", "", value)
        fields.setdefault(key.rstrip("s") if key != "version" else key, _STRING.findall(value))
    name, version = (fields.get("name") or [""])[0], (fields.get("version") or [""])[0]
    if not name or not version:
        return []
    return [Package(name=name, version=version, type="gem", location=path,
                    purl=purl.purl("gem", name, version),
                    licenses=tuple(fields.get("license") or ()))]


GEMSPEC = Cataloger("ruby-gemspec", _is_gemspec, parse_gemspec)
