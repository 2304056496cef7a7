"""SBOM documents: wharfie's JSON, CycloneDX 1.5 JSON and SPDX 2.3 JSON (syft's names).

Each encoder is a pure function ``Sbom -> dict``; the layer and the Dockerfile step that
added a package travel as CycloneDX properties and SPDX ``sourceInfo``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

from wharfie import __version__
from wharfie.security.sbom.model import Found, LayerRef, Sbom

FORMATS = ("table", "json", "cyclonedx-json", "spdx-json")

# SPDX identifiers common in distributions; anything else becomes a LicenseRef in SPDX
# and a named license in CycloneDX, so no document claims an identifier it cannot check.
_KNOWN_SPDX_TEXT = """
0BSD Apache-2.0 Artistic-1.0 Artistic-2.0 BSD-2-Clause BSD-3-Clause BSD-4-Clause BSL-1.0
CC0-1.0 CC-BY-4.0 CC-BY-SA-4.0 GPL-1.0-only GPL-1.0-or-later GPL-2.0-only GPL-2.0-or-later
GPL-3.0-only GPL-3.0-or-later ISC LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only
LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later MIT MIT-0 MPL-1.1 MPL-2.0 OpenSSL PSF-2.0
Python-2.0 Unlicense Zlib X11 curl bzip2-1.0.6 FSFAP
"""
KNOWN_SPDX = frozenset(_KNOWN_SPDX_TEXT.split())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _layer(ref: LayerRef | None) -> dict | None:
    if ref is None:
        return None
    return {"index": ref.index, "digest": ref.digest, "diffID": ref.diff_id,
            "createdBy": ref.created_by}


def to_json(sbom: Sbom) -> dict:
    """wharfie's own document: every field the catalogers know, layers by index."""
    return {
        "schema": "wharfie-sbom/1",
        "image": {"name": sbom.image, "digest": sbom.digest, "id": sbom.image_id},
        "scope": sbom.scope,
        "distro": ({"id": sbom.distro.id, "versionID": sbom.distro.version_id,
                    "prettyName": sbom.distro.pretty_name} if sbom.distro else None),
        "layers": [_layer(ref) for ref in sbom.layers],
        "packages": [{
            "name": f.package.name, "version": f.package.version, "type": f.package.type,
            "purl": f.package.purl, "location": f.package.location,
            "licenses": list(f.package.licenses), "arch": f.package.arch,
            "source": f.package.source, "sourceVersion": f.package.source_version,
            "files": list(f.package.files),
            "addedBy": _layer(f.added), "removedBy": _layer(f.removed),
        } for f in sbom.packages],
    }


def bom_ref(f: Found) -> str:
    raw = "|".join(f.package.key) + f"|{f.added.index}"
    return f"pkg-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _cdx_licenses(licenses: tuple[str, ...]) -> list[dict]:
    return [{"license": {"id": lic} if lic in KNOWN_SPDX else {"name": lic}}
            for lic in licenses]


def _properties(f: Found) -> list[dict]:
    props = [("wharfie:package:type", f.package.type),
             ("wharfie:location", f.package.location),
             ("wharfie:layer:index", str(f.added.index)),
             ("wharfie:layer:digest", f.added.digest),
             ("wharfie:layer:diffID", f.added.diff_id),
             ("wharfie:layer:createdBy", f.added.created_by)]
    if f.removed:
        props += [("wharfie:removed:layer:index", str(f.removed.index)),
                  ("wharfie:removed:layer:createdBy", f.removed.created_by)]
    return [{"name": k, "value": v} for k, v in props if v]


def to_cyclonedx(sbom: Sbom) -> dict:
    """CycloneDX 1.5 JSON: the image as the metadata component, one library per package."""
    components = []
    for f in sbom.packages:
        comp = {"bom-ref": bom_ref(f), "type": "library", "name": f.package.name,
                "version": f.package.version}
        if f.package.purl:
            comp["purl"] = f.package.purl
        if f.package.licenses:
            comp["licenses"] = _cdx_licenses(f.package.licenses)
        comp["properties"] = _properties(f)
        components.append(comp)
    if sbom.distro:
        components.append({"bom-ref": "os", "type": "operating-system",
                           "name": sbom.distro.id, "version": sbom.distro.version_id,
                           "description": sbom.distro.pretty_name})
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1,
        "metadata": {
            "timestamp": _now(),
            "tools": {"components": [{"type": "application", "author": "wharfie",
                                      "name": "wharfie", "version": __version__}]},
            "component": {"bom-ref": "image", "type": "container", "name": sbom.image,
                          "version": sbom.digest},
        },
        "components": components,
    }


def _spdx_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", text)


def _spdx_license(licenses: tuple[str, ...], refs: dict[str, str]) -> str:
    """An SPDX expression: known identifiers as they are, others as LicenseRefs (recorded
    in ``refs`` for hasExtractedLicensingInfos); NOASSERTION when none is declared."""
    if not licenses:
        return "NOASSERTION"
    terms = []
    for lic in licenses:
        if lic not in KNOWN_SPDX:
            ref = "LicenseRef-" + _spdx_id(lic)
            refs[ref] = lic
            lic = ref
        terms.append(lic)
    return " AND ".join(dict.fromkeys(terms))


def to_spdx(sbom: Sbom) -> dict:
    """SPDX 2.3 JSON: the image as the described package, which CONTAINS each package."""
    refs: dict[str, str] = {}
    root_id = "SPDXRef-Image"
    packages = [{"SPDXID": root_id, "name": sbom.image, "versionInfo": sbom.digest,
                 "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
                 "primaryPackagePurpose": "CONTAINER"}]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": root_id}]
    for f in sbom.packages:
        pid = "SPDXRef-Package-" + _spdx_id(f"{f.package.type}-{f.package.name}-{bom_ref(f)}")
        pkg = {"SPDXID": pid, "name": f.package.name, "versionInfo": f.package.version,
               "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
               "licenseConcluded": "NOASSERTION",
               "licenseDeclared": _spdx_license(f.package.licenses, refs),
               "copyrightText": "NOASSERTION",
               "sourceInfo": (f"found in {f.package.location}, added by layer {f.added.index}"
                              f" ({f.added.digest}): {f.added.created_by}")}
        if f.package.purl:
            pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER",
                                    "referenceType": "purl",
                                    "referenceLocator": f.package.purl}]
        packages.append(pkg)
        relationships.append({"spdxElementId": root_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": pid})
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.image,
        "documentNamespace": f"https://wharfie.invalid/spdx/{_spdx_id(sbom.image)}-{uuid.uuid4()}",
        "creationInfo": {"created": _now(), "creators": [f"Tool: wharfie-{__version__}"]},
        "packages": packages, "relationships": relationships,
    }
    if refs:
        doc["hasExtractedLicensingInfos"] = [
            {"licenseId": ref, "extractedText": text, "name": text}
            for ref, text in sorted(refs.items())]
    return doc


ENCODERS = {"json": to_json, "cyclonedx-json": to_cyclonedx, "spdx-json": to_spdx}
