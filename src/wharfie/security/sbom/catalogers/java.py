"""Java archives (jar, war, ear): ``META-INF/maven/**/pom.properties`` names the Maven
artifacts an archive holds, ``META-INF/MANIFEST.MF`` the archive itself when no pom does;
archives nested inside (Spring Boot's ``BOOT-INF/lib``, a war's ``WEB-INF/lib``) too.

Archives are reduced as they stream by to a JSON list of what they declare."""

from __future__ import annotations

import io
import json
import posixpath
import zipfile

from wharfie.security.sbom import purl
from wharfie.security.sbom.model import Cataloger, Context, Package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear")
_MAX_DEPTH = 4  # nested archives inside nested archives ...


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines()
             if "=" in line and not line.lstrip().startswith(("#", "!")))
    return {k.strip(): v.strip() for k, v in pairs}


def _manifest(text: str) -> dict[str, str]:
    """Main attributes of a MANIFEST.MF (72-byte lines continue with a leading space)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            break  # the main section ends at the first blank line
        if line.startswith(" ") and key:
            fields[key] += line[1:]
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip()
            fields[key] = value.strip()
    return fields


def _declared(zf: zipfile.ZipFile, inner: str, depth: int) -> list[dict]:
    found = []
    for name in zf.namelist():
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
            props = _properties(zf.read(name).decode("utf-8", "replace"))
            if props.get("artifactId") and props.get("version"):
                found.append({"group": props.get("groupId", ""), "name": props["artifactId"],
                              "version": props["version"], "in": inner})
    if not found and "META-INF/MANIFEST.MF" in zf.namelist():
        attrs = _manifest(zf.read("META-INF/MANIFEST.MF").decode("utf-8", "replace"))
        version = (attrs.get("Implementation-Version") or attrs.get("Bundle-Version")
                   or attrs.get("Specification-Version") or "")
        stem = posixpath.splitext(posixpath.basename(inner))[0] if inner else ""
        name = attrs.get("Implementation-Title") or attrs.get("Bundle-SymbolicName") or stem
        if name and version:
            found.append({"group": "", "name": name.split(";")[0], "version": version,
                          "in": inner})
    if depth < _MAX_DEPTH:
        for name in zf.namelist():
            if name.endswith(ARCHIVE_SUFFIXES):
                found += summarize_archive(zf.read(name), f"{inner}:{name}" if inner else name,
                                           depth + 1)
    return found


def summarize_archive(data: bytes, inner: str = "", depth: int = 0) -> list[dict]:
    """What an archive and the archives nested in it declare; [] for a non-zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _declared(zf, inner, depth)
    except (zipfile.BadZipFile, OSError):
        return []


def reduce_archive(data: bytes) -> bytes:
    return json.dumps(summarize_archive(data)).encode()


def parse_summary(path: str, data: bytes, ctx: Context) -> list[Package]:
    found = []
    for item in json.loads(data or b"[]"):
        location = f"{path}:{item['in']}" if item["in"] else path
        found.append(Package(
            name=item["name"], version=item["version"], type="java-archive", location=location,
            purl=purl.purl("maven", item["name"], item["version"],
                           namespace=item["group"] or item["name"])))
    return found


JAVA = Cataloger("java", lambda p: p.endswith(ARCHIVE_SUFFIXES), parse_summary,
                 reduce=reduce_archive)
