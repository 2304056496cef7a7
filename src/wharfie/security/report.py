"""One report for ``wharfie scan``: vulnerabilities, secrets and misconfigurations of an
image, filtered by severity and fix, less what an ignore file or VEX suppresses (kept
aside with the reason, for ``--show-suppressed``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import InvalidInput
from wharfie.oci.image import Image
from wharfie.security.misconfig import Misconfig, check_config, check_dockerfile
from wharfie.security.sbom import Sbom, generate
from wharfie.security.secrets import SecretFinding, scan_secrets
from wharfie.security.suppress import Suppressor, load_ignorefile, load_openvex
from wharfie.security.vulns import SEVERITIES, Finding, scan

SCANNERS = ("vuln", "secret", "misconfig")


@dataclass(frozen=True)
class ScanOptions:
    """What ``wharfie scan`` takes, in library terms. ``dockerfile``: (text, filename) of
    the Dockerfile that built the image, for lint findings."""

    scanners: tuple[str, ...] = ("vuln", "secret")
    severities: tuple[str, ...] = SEVERITIES
    ignore_unfixed: bool = False
    ignorefile: Path | None = None
    vex: tuple[Path, ...] = ()
    dockerfile: tuple[str | bytes, str] | None = None

    def __post_init__(self) -> None:
        for s in self.scanners:
            if s not in SCANNERS:
                raise InvalidInput(f"unknown scanner {s!r}: use {','.join(SCANNERS)}")
        for s in self.severities:
            if s not in SEVERITIES:
                raise InvalidInput(f"unknown severity {s!r}: use {','.join(SEVERITIES)}")


@dataclass(frozen=True)
class Suppressed:
    """A finding an ignore file or a VEX statement suppressed, and why."""

    finding: Finding | SecretFinding | Misconfig
    reason: str


@dataclass
class Report:
    image: str
    digest: str
    scanners: tuple[str, ...]
    sbom: Sbom | None = None
    vulnerabilities: list[Finding] = field(default_factory=list)
    secrets: list[SecretFinding] = field(default_factory=list)
    misconfigs: list[Misconfig] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)

    def __len__(self) -> int:
        """How many findings remain (what ``--exit-code`` counts)."""
        return len(self.vulnerabilities) + len(self.secrets) + len(self.misconfigs)


def finding_id(f: Finding | SecretFinding | Misconfig) -> str:
    """The ID an ignore file names: the vulnerability, the secret rule, the check."""
    return f.vuln if isinstance(f, Finding) else f.rule if isinstance(f, SecretFinding) else f.id


def scan_image(image: Image, root: Path, options: ScanOptions = ScanOptions(), *,
               name: str = "", bases: list[Image] | None = None) -> Report:
    """Run ``options.scanners`` over ``image`` against the database under ``root``."""
    suppressor = Suppressor(load_ignorefile(options.ignorefile) if options.ignorefile else [],
                            [st for p in options.vex for st in load_openvex(p)],
                            (str(image.digest), str(image.id)))
    report = Report(name or str(image.digest), str(image.digest), options.scanners)
    if "vuln" in options.scanners:
        report.sbom = generate(image, name=name)
        found = scan(image, root, name=name, bases=bases, sbom=report.sbom)
        report.vulnerabilities = _keep(report, suppressor, options, [
            f for f in found if f.fixed or not options.ignore_unfixed])
    if "secret" in options.scanners:
        report.secrets = _keep(report, suppressor, options, scan_secrets(image))
    if "misconfig" in options.scanners:
        found_m = check_config(image)
        if options.dockerfile:
            found_m += check_dockerfile(*options.dockerfile)
        report.misconfigs = _keep(report, suppressor, options, found_m)
    return report


def _keep(report: Report, suppressor: Suppressor, options: ScanOptions, found: list) -> list:
    """The findings of the wanted severities that nothing suppresses; the suppressed ones
    go to ``report.suppressed``."""
    kept = []
    for f in found:
        if f.severity not in options.severities:
            continue
        reason = suppressor.reason(finding_id(f), getattr(f, "purl", ""),
                                   getattr(f, "aliases", ()))
        if reason is None:
            kept.append(f)
        else:
            report.suppressed.append(Suppressed(f, reason))
    return kept
