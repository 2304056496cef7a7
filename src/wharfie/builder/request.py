"""What the build engine takes: the request, and the state of a stage being built. (What it
gives, ``BuildResult``, ``BuildEvent`` and ``BuildError``, is in ``result``.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.builder.context import BuildContext
from wharfie.builder.imageconfig import StageImage
from wharfie.builder.mounts import Secret
from wharfie.builder.result import BuildError, BuildEvent, BuildResult  # noqa: F401 - steps/ import them here
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor

if TYPE_CHECKING:
    from wharfie.builder.cache.transfer import CacheSpec


@dataclass
class BuildRequest:
    """One build, parsed: the engine's input (``pipeline`` makes it from ``BuildOptions``)."""

    dockerfile: str
    dockerfile_name: str = "Dockerfile"
    context: BuildContext | None = None
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    squash: bool = False
    platform: str | None = None
    network: str = "default"
    secrets: list[Secret] = field(default_factory=list)
    epoch: int | None = None
    compression: str = "gzip"
    jobs: int = 2
    pull: bool = False
    cache_from: list[CacheSpec] = field(default_factory=list)
    cache_to: CacheSpec | None = None
    # --build-context: lowercase name -> image reference, or a directory context
    named_contexts: dict[str, str | BuildContext] = field(default_factory=dict)
    ssh: dict[str, Path] = field(default_factory=dict)  # --ssh: id -> SSH agent socket
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)  # --add-host
    shm_size: int | None = None  # --shm-size for RUN (default: Docker's 64 MiB)
    no_cache_filter: list[str] = field(default_factory=list)  # stages built without cache


@dataclass
class StageState:
    """A stage being built: its config, its layers (blob, diffID) and its cache key."""

    image: StageImage
    layers: list[tuple[Descriptor, Digest]]
    key: str
    base_layers: int = 0
    label: str = ""
    # ARG values of the stage this one is built FROM: RUN sees them (BuildKit's LLB state)
    inherited_args: dict[str, str] = field(default_factory=dict)
