"""What a build gives back: the result, progress events and errors. Kept apart from the
engine's modules so the no-change fast path (``fastpath``) and the CLI load none of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from wharfie.errors import WharfieError
from wharfie.oci.digest import Digest


class BuildError(WharfieError):
    """A build step that failed: says which, and shows the tail of its output."""


class BuildCheckError(BuildError):
    """A build check set to fail the build (``# check=error=true``) was violated."""

    def __init__(self, message: str, findings: list) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass
class BuildEvent:
    """Progress, for the CLI to render: ``kind`` is step, cached, output, detail (a line of
    a step's own, as ``writing image ... done``), done, error (``text`` the reason), explain
    or warning while building; push and pushed (``text`` the reference) after it.
    ``seconds`` is the step's time, for done and error."""

    kind: str
    step: int
    text: str
    seconds: float = 0.0


@dataclass
class BuildResult:
    """The built image: its manifest digest and ID (config digest), the Dockerfile's
    warnings, the build check findings, and how many steps were announced. ``cache_keys``
    and ``base_images`` (name -> manifest digest) are what the build depended on, for the
    no-change fast path."""

    manifest_digest: Digest
    image_id: Digest
    warnings: list[str]
    checks: list = field(default_factory=list)
    steps: int = 0
    cache_keys: list[str] = field(default_factory=list)
    base_images: dict[str, str] = field(default_factory=dict)


def emit_export(emit, step: int, image_id: Digest, names: list) -> None:
    """BuildKit's ``exporting to image`` group: its sub-steps, then DONE."""
    emit(BuildEvent("step", step, "exporting to image"))
    emit(BuildEvent("detail", step, "exporting layers done"))
    emit(BuildEvent("detail", step, f"writing image {image_id} done"))
    for name in names:
        emit(BuildEvent("detail", step, f"naming to {name} done"))
    emit(BuildEvent("done", step, "DONE"))
