"""``wharfie scan IMAGE``: vulnerabilities, secrets and misconfigurations in one report,
each with the layer and step that brought it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import ellipsis, tabwrite

FORMATS = ("table", "json", "sarif", "cyclonedx")
SEVERITIES = "CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN"


def _step(step: str) -> str:
    return ellipsis(step.removeprefix("/bin/sh -c ").removeprefix("#(nop) ").strip(), 50)


def render_table(report, show_suppressed: bool) -> str:
    """A section per scanner that ran, then the suppressed findings if asked for."""
    out = []
    if "vuln" in report.scanners:
        lines = ["PACKAGE\tVULNERABILITY\tSEVERITY\tINSTALLED\tFIXED\tLAYER\tORIGIN\tSTEP"]
        lines += [f"{f.package}\t{f.vuln}\t{f.severity}\t{f.installed}\t{f.fixed or '-'}\t"
                  f"{f.layer}\t{f.origin}\t{_step(f.step)}" for f in report.vulnerabilities]
        out.append(tabwrite(lines))
    if "secret" in report.scanners:
        lines = ["SECRET\tSEVERITY\tPATH\tLINE\tMATCH\tLAYER\tSTEP"]
        lines += [f"{f.rule}\t{f.severity}\t{f.path}\t{f.line}\t{f.match}\t"
                  f"{'-' if f.layer is None else f.layer}"
                  f"{'' if f.removed_in is None else f' (deleted in {f.removed_in})'}\t"
                  f"{_step(f.step)}" for f in report.secrets]
        out.append(tabwrite(lines))
    if "misconfig" in report.scanners:
        lines = ["CHECK\tSEVERITY\tSOURCE\tMESSAGE"]
        lines += [f"{f.id}\t{f.severity}\t{f.source}{f':{f.line}' if f.line else ''}\t"
                  f"{f.title}: {f.message}" for f in report.misconfigs]
        out.append(tabwrite(lines))
    if show_suppressed:
        from wharfie.security.report import finding_id
        from wharfie.security.reportformats import kind

        lines = ["SUPPRESSED\tKIND\tREASON"]
        lines += [f"{finding_id(s.finding)}\t{kind(s.finding)}\t{s.reason}"
                  for s in report.suppressed]
        out.append(tabwrite(lines))
    return "\n".join(out)


@click.command("scan")
@click.argument("image")
@click.option("--scanners", default="vuln,secret", show_default=True,
              help="Comma-separated: vuln, secret, misconfig.")
@click.option("--severity", default=SEVERITIES, show_default=True,
              help="Comma-separated severities to report.")
@click.option("--exit-code", type=int, default=0, help="Exit status when findings remain.")
@click.option("--ignore-unfixed", is_flag=True, help="Leave out vulnerabilities with no fix.")
@click.option("--ignorefile", type=click.Path(path_type=Path),
              help="Trivy's ignore file: IDs to suppress, one a line, `exp:YYYY-MM-DD`.")
@click.option("--vex", multiple=True, type=click.Path(path_type=Path),
              help="An OpenVEX document; not_affected and fixed statements suppress.")
@click.option("--show-suppressed", is_flag=True, help="Also list suppressed findings.")
@click.option("--file", "-f", "dockerfile",
              help="The Dockerfile that built IMAGE: adds `wharfie lint` findings to misconfig.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table")
@pass_app
def scan(app: App, image: str, scanners: str, severity: str, exit_code: int,
         ignore_unfixed: bool, ignorefile: Path | None, vex: tuple[Path, ...],
         show_suppressed: bool, dockerfile: str | None, fmt: str) -> int:
    """Scan IMAGE (a stored image, docker://REF, docker-archive:FILE...) for
    vulnerabilities (against the local database), secrets and misconfigurations."""
    from wharfie.cli.dockerfile import read_dockerfile
    from wharfie.security.report import ScanOptions

    def split(value: str) -> tuple[str, ...]:
        return tuple(s.strip() for s in value.split(",") if s.strip())

    options = ScanOptions(
        scanners=split(scanners), severities=split(severity.upper()),
        ignore_unfixed=ignore_unfixed, ignorefile=ignorefile, vex=vex,
        dockerfile=read_dockerfile(dockerfile) if dockerfile else None)
    report = app.client.scan(image, options)
    if fmt == "table":
        click.echo(render_table(report, show_suppressed), nl=False)
    else:
        from wharfie.security.reportformats import ENCODERS

        click.echo(json.dumps(ENCODERS[fmt](report, show_suppressed=show_suppressed),
                              indent=2))
    return exit_code if len(report) else 0

