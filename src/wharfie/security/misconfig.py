"""Misconfigurations: checks of the image config (runs as root, no HEALTHCHECK, a
``latest`` base named in the manifest's base-name annotation), plus ``wharfie lint``'s
findings when the Dockerfile that built the image is given."""

from __future__ import annotations

from dataclasses import dataclass

from wharfie.dockerfile.lint import ERROR, INFO, WARNING, lint
from wharfie.oci.image import Image

BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name"
_LINT_SEVERITY = {ERROR: "HIGH", WARNING: "MEDIUM", INFO: "LOW"}


@dataclass(frozen=True)
class Misconfig:
    """One check that failed: ``source`` is ``config`` or the Dockerfile's name."""

    id: str
    title: str
    severity: str
    message: str
    source: str = "config"
    line: int = 0


def _runs_as_root(user: str) -> bool:
    name = user.split(":", 1)[0]
    return name in ("", "root", "0")


def check_config(image: Image) -> list[Misconfig]:
    config = image.config.config
    out = []
    if _runs_as_root(str(config.get("User") or "")):
        out.append(Misconfig("RootUser", "Image runs as root", "HIGH",
                             "no USER, or USER root: add a non-root USER"))
    healthcheck = (config.get("Healthcheck") or {}).get("Test") or []
    if not healthcheck or healthcheck == ["NONE"]:
        out.append(Misconfig("NoHealthcheck", "No HEALTHCHECK", "LOW",
                             "add a HEALTHCHECK so the runtime can tell a hung container"))
    base = image.manifest.annotations.get(BASE_NAME_ANNOTATION, "")
    last = base.rsplit("/", 1)[-1]
    if base and "@" not in last and (":" not in last or last.endswith(":latest")):
        out.append(Misconfig("LatestBaseImage", "Base image is 'latest'", "MEDIUM",
                             f"built on {base}: pin a tag or a digest"))
    return out


def check_dockerfile(text: str | bytes, filename: str = "Dockerfile") -> list[Misconfig]:
    """``wharfie lint``'s findings as misconfigurations."""
    return [Misconfig(f.rule, f.message, _LINT_SEVERITY[f.severity], f.hint, f.filename,
                      f.line) for f in lint(text, filename)]
