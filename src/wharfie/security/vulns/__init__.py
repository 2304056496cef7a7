"""Vulnerabilities: match an image's SBOM against the local database (``db``).

A distro package is matched only against its distro's own advisories (by source package
and the distro's version order), so a backported fix is never overruled by an upstream
range; there is no fuzzy CPE matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from wharfie.oci.image import Image
from wharfie.security.sbom import Sbom, generate
from wharfie.security.sbom.formats import bom_ref
from wharfie.security.sbom.model import Found, Package
from wharfie.security.vulns import db
from wharfie.security.vulns.versions import comparator

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
_DEBIAN_URGENCY = {"MODERATE": "MEDIUM", "UNIMPORTANT": "LOW", "LOW": "LOW", "MEDIUM": "MEDIUM", "HIGH": "HIGH",
                   "NOT YET ASSIGNED": "UNKNOWN", "END-OF-LIFE": "UNKNOWN"}


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package, with the layer and step that brought it in and
    whether that layer came from the base image or from the Dockerfile. ``aliases``: the
    vulnerability's other IDs (a GHSA's CVE), which suppressions may name instead."""

    vuln: str
    package: str
    type: str
    installed: str
    fixed: str | None
    severity: str
    layer: int
    step: str
    origin: str  # "base" or "dockerfile"
    summary: str = ""
    purl: str = ""
    bom_ref: str = ""  # the package's bom-ref in the image's CycloneDX SBOM
    aliases: tuple[str, ...] = ()


def ecosystem_key(found: Found, sbom: Sbom) -> tuple[str, str, str] | None:
    """(OSV ecosystem, package name, version) to look up, or None when no data can apply."""
    p, distro = found.package, sbom.distro
    if p.type == "deb" and distro and distro.id in ("debian", "ubuntu"):
        eco = "Debian" if distro.id == "debian" else "Ubuntu"
        return f"{eco}:{distro.version_id}", p.source or p.name, p.source_version or p.version
    if p.type == "apk" and distro and distro.id == "alpine":
        return f"Alpine:{alpine_branch(distro.version_id)}", p.source or p.name, p.version
    if p.type == "python":
        return "PyPI", re.sub(r"[-_.]+", "-", p.name).lower(), p.version
    if p.type == "npm":
        return "npm", p.name, p.version
    if p.type == "rpm" and distro and distro.id in _RPM_ECOSYSTEMS:
        major = distro.version_id.split(".")[0]
        return f"{_RPM_ECOSYSTEMS[distro.id]}:{major}", p.name, p.version
    if p.type == "go-module" and p.name != "stdlib":
        return "Go", p.name, p.version
    if p.type in _LANGUAGE_ECOSYSTEMS:
        return _LANGUAGE_ECOSYSTEMS[p.type], _maven_name(p) if p.type == "java-archive" \
            else p.name, p.version
    return None


_RPM_ECOSYSTEMS = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux"}
_LANGUAGE_ECOSYSTEMS = {"rust-crate": "crates.io", "gem": "RubyGems", "java-archive": "Maven"}


def _maven_name(p: Package) -> str:
    """OSV's Maven name ``groupId:artifactId``, from the purl's namespace."""
    namespace = unquote(p.purl.removeprefix("pkg:maven/").rsplit("/", 1)[0])
    return f"{namespace}:{p.name}"


def alpine_branch(version_id: str) -> str:
    """The secdb/OSV branch of an Alpine release: ``3.19.1`` -> ``v3.19``."""
    return "v" + ".".join(version_id.split(".")[:2])


def is_affected(version: str, row: db.Affected) -> bool:
    cmp = comparator(row.ecosystem)
    if row.introduced and cmp(version, row.introduced) < 0:
        return False
    if row.fixed:
        return cmp(version, row.fixed) < 0
    if row.last_affected:
        return cmp(version, row.last_affected) <= 0
    return True


def _severity(raw: str) -> str:
    raw = raw.upper()
    return raw if raw in SEVERITIES else _DEBIAN_URGENCY.get(raw.rstrip("*"), "UNKNOWN")


def base_layers(image: Image, others: list[Image]) -> int:
    """How many bottom layers ``image`` shares with the deepest other image that is a
    proper prefix of it (its base); 0 when none is known."""
    mine = [str(d) for d in image.config.diff_ids]
    best = 0
    for other in others:
        theirs = [str(d) for d in other.config.diff_ids]
        if 0 < len(theirs) < len(mine) and mine[:len(theirs)] == theirs:
            best = max(best, len(theirs))
    return best


def scan(image: Image, root: Path, *, name: str = "", bases: list[Image] | None = None,
         sbom: Sbom | None = None) -> list[Finding]:
    """Every advisory of the database at ``root`` that applies to a package of ``image``."""
    sbom = sbom or generate(image, name=name)
    base = base_layers(image, bases or [])
    out = []
    with db.connect(root) as conn:
        for found in sbom.packages:
            key = ecosystem_key(found, sbom)
            if key is None:
                continue
            eco, pkg, version = key
            seen = set()
            for row in db.affected(conn, eco, pkg):
                if row.vuln in seen or not is_affected(version, row):
                    continue
                seen.add(row.vuln)
                out.append(Finding(row.vuln, found.package.name, found.package.type,
                                   found.package.version, row.fixed, _severity(row.severity),
                                   found.added.index, found.added.created_by,
                                   "base" if found.added.index < base else "dockerfile",
                                   row.summary, found.package.purl, bom_ref(found),
                                   db.aliases(conn, row.vuln)))
    return sorted(out, key=lambda f: (SEVERITIES.index(f.severity), f.package, f.vuln))
