"""Package URLs (github.com/package-url/purl-spec) for the types the catalogers find."""

from __future__ import annotations

import re
from urllib.parse import quote

from wharfie.security.sbom.model import Distro


def _part(text: str) -> str:
    return quote(text, safe=".-_~")


def purl(type_: str, name: str, version: str, *, namespace: str = "",
         qualifiers: dict[str, str] | None = None) -> str:
    """``pkg:TYPE/NAMESPACE/NAME@VERSION?k=v`` with each part percent-encoded; qualifiers
    sorted and empty ones left out, as the spec's canonical form asks."""
    text = f"pkg:{type_}/"
    if namespace:
        text += "/".join(_part(p) for p in namespace.split("/")) + "/"
    text += _part(name)
    if version:
        text += "@" + _part(version)
    quals = sorted((k, v) for k, v in (qualifiers or {}).items() if v)
    if quals:
        text += "?" + "&".join(f"{k}={_part(v)}" for k, v in quals)
    return text


def deb(name: str, version: str, arch: str, distro: Distro | None, source: str = "") -> str:
    """``pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`` (``upstream=`` the source
    package when it differs, as syft writes it)."""
    vendor = distro.id if distro else "debian"
    return purl("deb", name, version, namespace=vendor, qualifiers={
        "arch": arch, "distro": distro.purl_qualifier if distro else "",
        "upstream": source if source and source != name else ""})


def apk(name: str, version: str, arch: str, distro: Distro | None, origin: str = "") -> str:
    vendor = distro.id if distro else "alpine"
    return purl("apk", name, version, namespace=vendor, qualifiers={
        "arch": arch, "distro": distro.purl_qualifier if distro else "",
        "upstream": origin if origin and origin != name else ""})


def pypi(name: str, version: str) -> str:
    """PyPI names are normalised: lower case, runs of ``-_.`` become ``-`` (PEP 503)."""
    return purl("pypi", re.sub(r"[-_.]+", "-", name).lower(), version)


def npm(name: str, version: str) -> str:
    """``@scope/name`` puts the scope in the namespace (``%40scope``)."""
    if name.startswith("@") and "/" in name:
        scope, bare = name.split("/", 1)
        return purl("npm", bare, version, namespace=scope)
    return purl("npm", name, version)
