"""``wharfie image analyze``: dive's figures and CI gate, plus the step and fix for each waste.

Flags take wharfie's spelling and dive's (``--lowestEfficiency``...), and a ``.dive-ci``
file is read as dive reads it, so a CI job switches tools by changing one word.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.format import human_size
from wharfie.cli.transfer import registry_options, tls_flags
from wharfie.errors import InvalidInput


@click.command("analyze")
@click.argument("image")
@click.option("--layer", type=int, help="Show only layer N (0 is the base).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the report to this file instead of stdout.")
@click.option("--base", help="The FROM image (name in the local store), to split its share.")
@click.option("--platform", help="The image to read from an index (os/arch[/variant]).")
@click.option("--ci", is_flag=True, help="Check the CI rules; exit 1 if one fails.")
@click.option("--ci-config", type=click.Path(dir_okay=False), default=".dive-ci",
              show_default=True, help="dive's CI rules file, if it exists.")
@click.option("--lowest-efficiency", "--lowestEfficiency", "lowest_efficiency",
              help="Fail below this efficiency (0-1). dive's default: 0.9.")
@click.option("--highest-wasted-bytes", "--highestWastedBytes", "highest_wasted_bytes",
              help="Fail above this many wasted bytes (20MB...). Default: disabled.")
@click.option("--highest-user-wasted-percent", "--highestUserWastedPercent",
              "highest_user_wasted_percent",
              help="Fail above this wasted/user-bytes ratio (0-1). dive's default: 0.1.")
@click.option("--source", type=click.Choice(["wharfie", "docker-archive", "oci-archive",
                                             "docker", "oci"]),
              help="dive's --source: read IMAGE through this transport.")
@click.option("--interactive", is_flag=True,
              help="Browse the layers and their tree diffs in the terminal (needs a TTY).")
@tls_flags
@pass_app
def analyze_cmd(app: App, image: str, layer: int | None, fmt: str, output: str | None,
                base: str | None, platform: str | None, ci: bool, ci_config: str,
                lowest_efficiency: str | None, highest_wasted_bytes: str | None,
                highest_user_wasted_percent: str | None, source: str | None, interactive: bool,
                tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Show how efficiently IMAGE uses its bytes, which step wasted them, and the fix."""
    from wharfie.analysis import ci as gate

    if interactive and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInput("--interactive needs a terminal: stdin and stdout must be a TTY")
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    result = client.analyze(_with_source(image, source), base=base, platform=platform)
    if layer is not None and not 0 <= layer < len(result.layers):
        raise InvalidInput(f"--layer {layer}: the image has layers 0 to {len(result.layers) - 1}")
    if interactive:
        from wharfie.analysis.tui import browse

        browse(result, human_size)
        return
    _write(_render(result, fmt, layer), output)
    if ci:
        rules = gate.load_rules({"lowestEfficiency": lowest_efficiency,
                                 "highestWastedBytes": highest_wasted_bytes,
                                 "highestUserWastedPercent": highest_user_wasted_percent},
                                Path(ci_config))
        verdicts = gate.evaluate(result, rules)
        out = sys.stderr if fmt != "table" and not output else sys.stdout
        click.echo(_ci_text(verdicts), file=out)
        if not gate.passed(verdicts):
            sys.exit(1)


def _with_source(image: str, source: str | None) -> str:
    if source in (None, "wharfie"):
        return image
    if source == "docker":
        return image if image.startswith("docker://") else f"docker://{image}"
    return f"{source}:{image}"


def _render(result, fmt: str, layer: int | None) -> str:
    if fmt == "json":
        from wharfie.analysis.report import to_dict

        return json.dumps(to_dict(result, layer=layer), indent=2) + "\n"
    if fmt == "html":
        from wharfie.analysis.html import render

        return render(result)
    return _table(result, layer)


def _write(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from wharfie.fs.output import write_bytes

    write_bytes(output, text.encode())


def _table(r, layer: int | None) -> str:
    lines = [f"Image: {r.image}",
             f"  efficiency: {r.efficiency * 100:.4f} %",
             f"  wastedBytes: {r.wasted_bytes} bytes ({human_size(r.wasted_bytes)})",
             f"  userWastedPercent: {_percent(r.wasted_user_percent)}",
             f"  size: {human_size(r.size_bytes)}; base image {human_size(r.base_bytes)} "
             f"({r.base_layers} layers{', ' + r.base_name if r.base_name else ''}), "
             f"Dockerfile {human_size(r.dockerfile_bytes)}", "", "Layers:"]
    shown = [r.layers[layer]] if layer is not None else r.layers
    for x in shown:
        counts = x.counts()
        lines.append(f"  {x.index:>3} {human_size(x.size):>9}  {'base ' if x.base else ''}"
                     f"+{counts['added']} ~{counts['modified']} -{counts['removed']}  "
                     f"{x.command[:100]}")
        if layer is not None:
            lines += [f"        {c.action:<8} {human_size(c.size):>9}  /{c.path}"
                      for c in x.changes]
    if layer is None:
        lines += ["", "Inefficient files:", "  Count  Wasted Space  File Path"]
        lines += [f"  {len(u.uses):>5}  {human_size(u.cumulative):>12}  /{u.path}"
                  for u in r.inefficient[:20]]
        lines += ["", "Biggest files:"]
        lines += [f"  {human_size(n):>9}  layer {i:<3} /{p}" for p, n, i in r.biggest_files[:10]]
    lines += ["", "Findings:" if r.findings else "Findings: none"]
    for f in r.findings:
        lines += [f"  [{f.kind}] {f.title}: {human_size(f.bytes)}",
                  f"    step (layer {f.layer}): {f.step[:120]}", f"    fix: {f.fix}"]
    return "\n".join(lines) + "\n"


def _percent(ratio: float) -> str:
    return "inf" if ratio == float("inf") else f"{ratio * 100:.4f} %"


def _ci_text(verdicts) -> str:
    lines = ["Results:"]
    for v in verdicts:
        lines.append(f"  {v.status}: {v.key}" + (f": {v.message}" if v.message else ""))
    count = {s: sum(v.status == s for v in verdicts) for s in ("PASS", "FAIL", "SKIP")}
    status = "FAIL" if count["FAIL"] else "PASS"
    lines.append(f"Result:{status} [Total:{len(verdicts)}] [Passed:{count['PASS']}] "
                 f"[Failed:{count['FAIL']}] [Warn:0] [Skipped:{count['SKIP']}]")
    return "\n".join(lines)
