"""What a cataloger finds: ``Package``; what ``generate`` returns: ``Sbom``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Distro:
    """The operating system, from ``etc/os-release``: ``debian``/``12``, ``alpine``/``3.19.1``."""

    id: str
    version_id: str = ""
    pretty_name: str = ""

    @property
    def purl_qualifier(self) -> str:
        """purl's ``distro=`` value: ``debian-12``, ``alpine-3.19.1``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class Package:
    """One installed package. ``type`` uses syft's names (deb, apk, python, npm, ...);
    ``location`` is the file that declared it; ``files`` what it installed."""

    name: str
    version: str
    type: str
    location: str
    purl: str = ""
    files: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    arch: str = ""
    source: str = ""  # the source package (deb Source:, apk origin)
    source_version: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two sightings in different layers the same package."""
        return (self.type, self.name, self.version, self.location)


@dataclass(frozen=True)
class LayerRef:
    """A layer and the Dockerfile step that made it (history ``created_by``)."""

    index: int
    digest: str
    diff_id: str
    created_by: str = ""


@dataclass(frozen=True)
class Found:
    """A package with where it came from: the layer that added it and, with
    ``--scope all-layers``, the layer that removed it (None while it is still there)."""

    package: Package
    added: LayerRef
    removed: LayerRef | None = None


@dataclass
class Sbom:
    """The packages of one image."""

    image: str  # the name the user gave
    digest: str  # manifest digest
    image_id: str  # config digest
    scope: str
    distro: Distro | None
    layers: list[LayerRef] = field(default_factory=list)
    packages: list[Found] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What a cataloger may consult besides the file it parses: the distro, and other
    wanted files of the same filesystem view (``read(path)`` -> bytes or None)."""

    distro: Distro | None
    read: Callable[[str], bytes | None]


@dataclass(frozen=True)
class Cataloger:
    """A pure parser. ``primary(path)``: the files that declare packages, each parsed by
    ``parse(path, data, ctx)``; ``auxiliary(path)``: files ``parse`` may read through
    ``ctx.read`` (file lists, licenses). A change to either re-parses. ``reduce(data)``,
    when set, shrinks a large primary file (a binary, a jar) as it streams by to the bytes
    ``parse`` needs, so the catalog never holds the whole file."""

    name: str
    primary: Callable[[str], bool]
    parse: Callable[[str, bytes, Context], list[Package]]
    auxiliary: Callable[[str], bool] = lambda path: False
    reduce: Callable[[bytes], bytes] | None = None
