"""``BuildOptions``: everything ``wharfie build`` takes, in library terms.

Specs (``--secret``, ``--output``, ``--cache-from``...) are the strings docker buildx takes,
so a script can pass what it would have put on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


@dataclass
class BuildOptions:
    """One build: where the context and Dockerfile come from, and what to do with the image.

    >>> BuildOptions("examples/hello", tags=["hello:1"], build_args={"GREETING": "hi"})

    ``context`` is a directory or a git URL; ``context_tar`` a tar stream to use instead;
    ``dockerfile_text`` a Dockerfile given as text (with no context: a build that copies
    nothing). ``epoch`` is SOURCE_DATE_EPOCH; None reads the build arg, then the environment.
    """

    context: str | Path | None = None
    context_tar: BinaryIO | None = None
    dockerfile_text: str | None = None
    dockerfile: str | None = None  # a path; inside the context for a git or tar context
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    no_cache_filter: list[str] = field(default_factory=list)  # stage names (comma lists too)
    pull: bool = False
    squash: bool = False
    platform: str | None = None
    network: str = "default"  # default, host or none
    secrets: list[str] = field(default_factory=list)  # id=ID,src=PATH or id=ID,env=VAR
    ssh: list[str] = field(default_factory=list)  # default or ID=SOCKET
    outputs: list[str] = field(default_factory=list)  # type=local,dest=DIR ...
    cache_from: list[str] = field(default_factory=list)  # type=local,src=DIR ...
    cache_to: str | None = None  # type=local,dest=DIR or type=registry,ref=REF
    build_contexts: list[str] = field(default_factory=list)  # NAME=PATH or NAME=docker-image://REF
    add_hosts: list[str] = field(default_factory=list)  # host:ip
    shm_size: str | int | None = None  # bytes, or a size such as 128m
    compression: str = "gzip"  # gzip, zstd or none
    iidfile: Path | None = None
    metadata_file: Path | None = None
    push: bool = False  # push the tags to their registries (also type=registry outputs)
    sbom: bool = False  # attach an SPDX SBOM referrer to the image (needs a tag)
    explain_cache: bool = False  # say which input changed for the first cache miss
    epoch: int | None = None
    jobs: int = 2  # stages built side by side
