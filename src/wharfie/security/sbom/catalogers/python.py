"""Installed Python distributions: ``*.dist-info/METADATA`` (pip, wheels),
``*.egg-info/PKG-INFO`` and distutils' single-file ``*.egg-info``; files from ``RECORD``
or ``installed-files.txt``."""

from __future__ import annotations

import csv
import io
import posixpath
from email.parser import BytesHeaderParser

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package


def _is_metadata(path: str) -> bool:
    parent, base = posixpath.split(path)
    return ((base == "METADATA" and parent.endswith(".dist-info"))
            or (base == "PKG-INFO" and parent.endswith(".egg-info"))
            or (base.endswith(".egg-info") and "site-packages" in parent)
            or (base.endswith(".egg-info") and "dist-packages" in parent))


def _is_file_list(path: str) -> bool:
    parent, base = posixpath.split(path)
    return ((base == "RECORD" and parent.endswith(".dist-info"))
            or (base == "installed-files.txt" and parent.endswith(".egg-info")))


def _licenses(meta) -> tuple[str, ...]:
    """License-Expression (PEP 639), else License (when short), else the classifiers'."""
    for header in ("License-Expression", "License"):
        value = (meta.get(header) or "").strip()
        if value and value != "UNKNOWN" and "\n" not in value and len(value) < 100:
            return (value,)
    return tuple(c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                 if c.startswith("License ::") and c.count("::") >= 2)


def _files(path: str, ctx: Context) -> tuple[str, ...]:
    """Paths from RECORD (relative to site-packages) or installed-files.txt (to egg-info)."""
    info_dir = posixpath.dirname(path)
    record = ctx.read(info_dir + "/RECORD")
    if record is not None:
        base = posixpath.dirname(info_dir)
        rows = csv.reader(io.StringIO(record.decode("utf-8", "replace")))
        names = [row[0] for row in rows if row and row[0]]
    else:
        listing = ctx.read(info_dir + "/installed-files.txt") if path.endswith("PKG-INFO") else None
        if listing is None:
            return ()
        base = info_dir
        names = [n for n in listing.decode("utf-8", "replace").splitlines() if n.strip()]
    return tuple(sorted({posixpath.normpath(posixpath.join(base, n)).lstrip("/")
                         for n in names}))


def parse_metadata(path: str, data: bytes, ctx: Context) -> list[Package]:
    meta = BytesHeaderParser().parsebytes(data)
    name, version = (meta.get("Name") or "").strip(), (meta.get("Version") or "").strip()
    if not name or not version:
        return []
    return [Package(name=name, version=version, type="python", location=path,
                    purl=purl.pypi(name, version), files=_files(path, ctx),
                    licenses=_licenses(meta))]


PYTHON = Cataloger("python", _is_metadata, parse_metadata, auxiliary=_is_file_list)
