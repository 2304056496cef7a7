"""``wharfie lint`` and ``wharfie debug parse``: thin commands over wharfie.dockerfile."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.lint import RULES, has_errors, lint, sarif
from wharfie.dockerfile.parser import parse
from wharfie.dockerfile.stages import parse_dockerfile
from wharfie.errors import NotFound


def read_dockerfile(path: str) -> tuple[bytes, str]:
    """The bytes of ``path`` (``-`` is stdin) and the name to report it under."""
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    try:
        return Path(path).read_bytes(), path
    except FileNotFoundError:
        raise NotFound(f"Dockerfile not found: {path}") from None
    except IsADirectoryError:
        raise DockerfileError(f"{path} is a directory, not a Dockerfile") from None


@click.command("lint")
@click.option("-f", "--file", "file", default="Dockerfile", show_default=True,
              help="Dockerfile to lint (- for stdin).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True)
@click.option("--ignore", multiple=True, metavar="RULE", help="Skip a rule (repeatable).")
@click.argument("context", required=False, type=click.Path(file_okay=False, path_type=Path))
def lint_cmd(file: str, fmt: str, ignore: tuple[str, ...], context: Path | None) -> int:
    """Check a Dockerfile against best practices; exit 1 on error-level findings.

    CONTEXT (default: the Dockerfile's directory) is checked for a .dockerignore.
    """
    data, name = read_dockerfile(file)
    if context is None and file != "-":
        context = Path(file).resolve().parent
    findings = lint(data, name, context=context, ignore=ignore)
    if fmt == "json":
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2))
    elif fmt == "sarif":
        click.echo(json.dumps(sarif(findings), indent=2))
    else:
        for f in findings:
            click.echo(f"{f.filename}:{f.line} {f.rule} ({f.severity}): {f.message}")
            click.echo(f"    hint: {f.hint}")
        if not findings:
            click.echo(f"{name}: no problems found ({len(RULES)} rules)")
    return 1 if has_errors(findings) else 0


@click.group("debug")
def debug() -> None:
    """Developer tools: look at what wharfie sees."""


@debug.command("parse")
@click.option("-f", "--file", "file", default="Dockerfile", show_default=True,
              help="Dockerfile to parse (- for stdin).")
@click.option("--json", "as_json", is_flag=True,
              help="Print typed instructions, flags, heredocs and line ranges as JSON.")
def parse_cmd(file: str, as_json: bool) -> None:
    """Print the parsed Dockerfile in BuildKit's AST dump format (or JSON)."""
    data, name = read_dockerfile(file)
    if not as_json:
        click.echo(parse(data, name).dump(), nl=False)
        return
    df = parse_dockerfile(data, name)

    def typed(ins) -> dict:
        d = dataclasses.asdict(ins)
        return {"instruction": d.pop("name"), "start_line": d.pop("line"),
                "end_line": d.pop("end_line"), **d}

    doc = {
        "file": name,
        "escape": df.escape,
        "directives": {d.name: d.value for d in df.ast.directives},
        "warnings": df.ast.warnings,
        "meta_args": [typed(a) for a in df.meta_args],
        "stages": [{"index": s.index, "name": s.name, "from": typed(s.from_),
                    "instructions": [typed(i) for i in s.instructions]} for s in df.stages],
    }
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
