"""``wharfie scan`` reports as documents: wharfie's JSON, SARIF 2.1.0 (code-scanning
dashboards) and CycloneDX 1.5 with its ``vulnerabilities`` (the image's SBOM plus what
affects which component). Each encoder is a pure function of a ``Report``."""

from __future__ import annotations

import dataclasses

from wharfie import __version__
from wharfie.errors import InvalidInput
from wharfie.security.misconfig import Misconfig
from wharfie.security.report import Report, Suppressed, finding_id
from wharfie.security.sbom.formats import to_cyclonedx as sbom_cyclonedx
from wharfie.security.secrets import SecretFinding
from wharfie.security.vulns import Finding

FORMATS = ("table", "json", "sarif", "cyclonedx")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note",
                "UNKNOWN": "note"}
_CVSS_LIKE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0", "UNKNOWN": "0.0"}


def kind(f: Finding | SecretFinding | Misconfig) -> str:
    return "vuln" if isinstance(f, Finding) else "secret" if isinstance(f, SecretFinding) \
        else "misconfig"


def to_json(report: Report, *, show_suppressed: bool = False) -> dict:
    doc = {"image": report.image, "digest": report.digest, "scanners": list(report.scanners),
           "vulnerabilities": [dataclasses.asdict(f) for f in report.vulnerabilities],
           "secrets": [dataclasses.asdict(f) for f in report.secrets],
           "misconfigs": [dataclasses.asdict(f) for f in report.misconfigs]}
    if show_suppressed:
        doc["suppressed"] = [{"kind": kind(s.finding), "id": finding_id(s.finding),
                              "reason": s.reason, "finding": dataclasses.asdict(s.finding)}
                             for s in report.suppressed]
    return doc


def _sarif_rule(f: Finding | SecretFinding | Misconfig) -> dict:
    if isinstance(f, Finding):
        text, help_ = f.summary or f.vuln, f"{f.package} {f.installed}: fixed in " \
            f"{f.fixed}" if f.fixed else f"{f.package} {f.installed}: no fix yet"
    elif isinstance(f, SecretFinding):
        text, help_ = f.title, "remove the credential from the image and rotate it"
    else:
        text, help_ = f.title, f.message
    properties = {"security-severity": _CVSS_LIKE[f.severity], "tags": ["security", kind(f)]}
    if getattr(f, "aliases", ()):
        properties["aliases"] = list(f.aliases)  # SARIF has no field for them: the bag
    return {"id": finding_id(f), "name": kind(f), "shortDescription": {"text": text},
            "help": {"text": help_},
            "defaultConfiguration": {"level": _SARIF_LEVEL[f.severity]},
            "properties": properties}


def _sarif_result(f: Finding | SecretFinding | Misconfig, index: int) -> dict:
    if isinstance(f, Finding):
        uri, line = f"layer/{f.layer}", 0
        message = (f"{f.package} {f.installed} is affected by {f.vuln} ({f.severity}); "
                   f"fixed: {f.fixed or 'none'}; added by: {f.step}")
    elif isinstance(f, SecretFinding):
        uri, line = f.path, f.line
        message = f"{f.title} {f.match}" + (f" (layer {f.layer}: {f.step})"
                                            if f.layer is not None else "")
    else:
        uri, line = f.source, f.line
        message = f"{f.title}: {f.message}"
    location: dict = {"artifactLocation": {"uri": uri}}
    if line > 0:
        location["region"] = {"startLine": line}
    return {"ruleId": finding_id(f), "ruleIndex": index, "level": _SARIF_LEVEL[f.severity],
            "message": {"text": message}, "locations": [{"physicalLocation": location}]}


def to_sarif(report: Report, *, show_suppressed: bool = False) -> dict:
    """One run; suppressed findings, when shown, carry SARIF ``suppressions``."""
    found: list[tuple[Finding | SecretFinding | Misconfig, Suppressed | None]] = [
        (f, None) for f in (*report.vulnerabilities, *report.secrets, *report.misconfigs)]
    if show_suppressed:
        found += [(s.finding, s) for s in report.suppressed]
    rules: dict[str, int] = {}
    rule_docs, results = [], []
    for f, suppressed in found:
        rid = finding_id(f)
        if rid not in rules:
            rules[rid] = len(rule_docs)
            rule_docs.append(_sarif_rule(f))
        result = _sarif_result(f, rules[rid])
        if suppressed:
            result["suppressions"] = [{"kind": "external", "justification": suppressed.reason}]
        results.append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "wharfie", "version": __version__,
                            "rules": rule_docs}},
        "results": results,
        "properties": {"image": report.image, "digest": report.digest}}]}


def _analysis(reason: str) -> dict:
    """VEX states the facts; an ignore file only that someone looked (``in_triage``)."""
    state = "resolved" if reason.startswith("VEX fixed") else \
        "not_affected" if reason.startswith("VEX not_affected") else "in_triage"
    return {"state": state, "detail": reason}


def to_cyclonedx(report: Report, *, show_suppressed: bool = False) -> dict:
    """The image's CycloneDX SBOM with a ``vulnerabilities`` entry per finding, each
    ``affects`` the component's bom-ref; suppressed ones, when shown, with ``analysis``."""
    if report.sbom is None:
        raise InvalidInput("--format cyclonedx needs the vuln scanner")
    doc = sbom_cyclonedx(report.sbom)
    entries = [(f, None) for f in report.vulnerabilities]
    if show_suppressed:
        entries += [(s.finding, s.reason) for s in report.suppressed
                    if isinstance(s.finding, Finding)]
    vulns = []
    for n, (f, reason) in enumerate(entries):
        v = {"bom-ref": f"vuln-{n}", "id": f.vuln, "source": {"name": "wharfie vulndb"},
             "ratings": [{"severity": f.severity.lower(), "method": "other"}],
             "description": f.summary,
             "affects": [{"ref": f.bom_ref,
                          "versions": [{"version": f.installed, "status": "affected"}]}],
             "properties": [{"name": "wharfie:layer:index", "value": str(f.layer)},
                            {"name": "wharfie:layer:createdBy", "value": f.step},
                            {"name": "wharfie:origin", "value": f.origin}]}
        if f.aliases:  # CycloneDX's place for the same vulnerability under other IDs
            v["references"] = [{"id": a, "source": {"name": "wharfie vulndb"}}
                               for a in f.aliases]
        if f.fixed:
            v["recommendation"] = f"upgrade {f.package} to {f.fixed}"
        if reason:
            v["analysis"] = _analysis(reason)
        vulns.append(v)
    doc["vulnerabilities"] = vulns
    return doc


ENCODERS = {"json": to_json, "sarif": to_sarif, "cyclonedx": to_cyclonedx}
