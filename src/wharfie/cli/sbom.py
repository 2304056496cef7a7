"""``wharfie sbom IMAGE``: the packages of an image, as a table or an SBOM document."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import ellipsis, tabwrite

FORMATS = ("table", "json", "cyclonedx-json", "spdx-json")


def render_table(sbom) -> str:
    """syft's columns (NAME VERSION TYPE), then the layer and step that added each one."""
    lines = ["NAME\tVERSION\tTYPE\tLAYER\tSTEP"]
    for f in sbom.packages:
        step = f.added.created_by.removeprefix("/bin/sh -c ").removeprefix("#(nop) ").strip()
        layer = str(f.added.index) + (f" (removed in {f.removed.index})" if f.removed else "")
        lines.append(f"{f.package.name}\t{f.package.version}\t{f.package.type}\t{layer}\t"
                     f"{ellipsis(step, 60)}")
    return tabwrite(lines)


def render(sbom, fmt: str) -> bytes:
    if fmt == "table":
        return render_table(sbom).encode()
    from wharfie.security.sbom.formats import ENCODERS

    return (json.dumps(ENCODERS[fmt](sbom), indent=2) + "\n").encode()


@click.command("sbom")
@click.argument("image")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True, help="Output format (syft's names).")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--scope", type=click.Choice(["squashed", "all-layers"]), default="squashed",
              show_default=True,
              help="squashed: what the final image holds; all-layers: also what a later "
                   "layer removed.")
@click.option("--from-attestation", is_flag=True,
              help="Print the SPDX SBOM attached to IMAGE (build --sbom) instead of "
                   "cataloging it: a stored image, or docker://REF from its referrers.")
@pass_app
def sbom(app: App, image: str, fmt: str, output: Path | None, scope: str,
         from_attestation: bool) -> None:
    """List the packages IMAGE holds (a stored image, docker://REF, docker-archive:FILE,
    oci:DIR...), each with the layer and Dockerfile step that added it."""
    if from_attestation:
        if fmt not in ("table", "spdx-json"):
            raise click.UsageError("--from-attestation gives the attached SPDX document: "
                                   "use --format spdx-json")
        doc = (json.dumps(app.client.sbom_attestation(image), indent=2) + "\n").encode()
    else:
        doc = render(app.client.sbom(image, scope=scope), fmt)
    if output is None:
        click.echo(doc, nl=False)
        return
    from wharfie.fs.output import open_output

    with open_output(output) as f:
        f.write(doc)
