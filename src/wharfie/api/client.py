"""``Client``: one object holding the store root, registry options and progress callback,
with every operation the ``wharfie`` command offers as a method.

The CLI is a thin layer over this class: each command parses its flags, calls one
method and renders the result. Heavy modules (the registry client, the build
engine) are imported by the methods that need them, so creating a Client is cheap.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Union

from wharfie.errors import InvalidInput, InvalidReference, NotFound, WharfieError
from wharfie.paths import default_root

if TYPE_CHECKING:
    from wharfie.analysis.analyze import Analysis
    from wharfie.builder import BuildEvent, BuildOptions, BuildResult, PruneReport
    from wharfie.builder import CheckReport as BuildCheckReport
    from wharfie.containers.launch import ContainerUsage
    from wharfie.containers.lifecycle import CreateOptions
    from wharfie.containers.resources import Limits
    from wharfie.containers.stats import ContainerStats
    from wharfie.containers.store import Container
    from wharfie.content.blobstore import ContentStore
    from wharfie.images.check import CheckReport
    from wharfie.images.imagestore import ImageStore, Removal
    from wharfie.images.inspect import HistoryEntry
    from wharfie.images.usage import DiskUsage
    from wharfie.oci.digest import Digest
    from wharfie.oci.image import Image, ImageIndex
    from wharfie.oci.platform import Platform
    from wharfie.oci.reference import Reference
    from wharfie.security.report import Report as ScanReport
    from wharfie.security.report import ScanOptions
    from wharfie.security.sbom import Sbom
    from wharfie.transports.archive import Loaded
    from wharfie.transports.base import Progress
    from wharfie.transports.names import TransportName
    from wharfie.transports.pull import PullResult
    from wharfie.transports.push import PushResult
    from wharfie.transports.registry.client import RegistryOptions

PathOrStream = Union[str, "os.PathLike[str]", IO[bytes]]
RefLike = Union[str, "Reference"]


@dataclass(frozen=True)
class ImageSummary:
    """One image of the local store, as ``wharfie images`` lists it.

    >>> [s.repo_tags for s in wharfie.list_images()]    # doctest: +SKIP
    [['docker.io/library/busybox:latest']]
    """

    id: Digest  # the config digest
    digest: Digest  # the manifest digest
    repo_tags: list[Reference] = field(default_factory=list)
    repo_digests: list[Reference] = field(default_factory=list)
    created: float | None = None  # seconds since the epoch
    size: int = 0  # the layers' contents, uncompressed: the same however the image arrived
    labels: dict[str, str] = field(default_factory=dict)
    compressed_size: int = 0  # config and layer blobs as stored

    @property
    def dangling(self) -> bool:
        """No tag names it (``<none>:<none>`` in ``wharfie images``)."""
        return not self.repo_tags


@dataclass(frozen=True)
class SystemUsage:
    """What ``wharfie system df`` shows: images (and build cache), and containers."""

    images: DiskUsage
    containers: list[ContainerUsage]


@dataclass(frozen=True)
class SystemPrune:
    """What ``system prune`` removed: container IDs, volume names, image removals, build
    cache records, and the bytes reclaimed."""

    containers: list[str]
    volumes: list[str]
    images: list[Removal]
    cache: PruneReport
    reclaimed: int


def _platform(value: str | Platform | None) -> Platform | None:
    if value is None or not isinstance(value, str):
        return value
    from wharfie.oci.platform import parse_platform

    return parse_platform(value)


def _ref(value: RefLike, *, default_tag: bool = True) -> Reference:
    if isinstance(value, str):
        from wharfie.oci.reference import parse_reference

        return parse_reference(value, default_tag=default_tag)
    return value


@contextlib.contextmanager
def _reading(source: PathOrStream, what: str) -> Iterator[BinaryIO]:
    """A stream as given, or the file at a path opened for reading (one clear error if not)."""
    if not isinstance(source, (str, os.PathLike)):
        yield source  # type: ignore[misc]
        return
    try:
        f = open(source, "rb")  # noqa: SIM115 -- closed by the with below
    except FileNotFoundError:
        raise NotFound(f"open {os.fspath(source)}: no such file or directory") from None
    except IsADirectoryError:
        raise InvalidInput(f"{os.fspath(source)} is a directory, not a {what}") from None
    with f:
        yield f


class Client:
    """The local store at ``root`` and how to reach registries, in one object.

    ``root`` defaults as the CLI's: ``$WHARFIE_ROOT``, else ``/var/lib/wharfie`` as root
    (``~/.local/share/wharfie`` otherwise). ``registries`` holds TLS, insecure hosts,
    mirrors and credentials given in code (else ``~/.docker/config.json`` is read);
    ``progress(event, descriptor, nbytes)`` sees every blob a transfer moves.

    >>> import wharfie
    >>> c = wharfie.Client("/tmp/store")                   # doctest: +SKIP
    >>> img = c.pull("127.0.0.1:5000/busybox:1.36")        # doctest: +SKIP
    >>> c.tag("127.0.0.1:5000/busybox:1.36", "mybox:1")    # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 registries: RegistryOptions | None = None,
                 progress: Progress | None = None) -> None:
        chosen = root if root is not None else (os.environ.get("WHARFIE_ROOT") or default_root())
        # absolute: mounts (run in the snapshotter's home) and runc resolve paths elsewhere
        self.root = Path(chosen).absolute()
        self._registries = registries
        self.progress = progress

    def __repr__(self) -> str:
        return f"wharfie.Client({str(self.root)!r})"

    @property
    def registries(self) -> RegistryOptions:
        """How registries are reached (made on first use from the environment's defaults)."""
        if self._registries is None:
            from wharfie.transports.registry.client import RegistryOptions

            self._registries = RegistryOptions()
        if self._registries.verify_pull is None:
            self._registries.verify_pull = self._verify_pull
        return self._registries

    def _verify_pull(self, ref: Reference, digests: list[Digest]) -> None:
        """The signature check a pull runs, if a policy is configured: ``$WHARFIE_POLICY``
        or content trust's key. Read when a pull needs it: a push loads no signing code."""
        from wharfie.signing.policy import policy_from_env, pull_verifier

        policy = policy_from_env(self.root)  # a broken one refuses the pull, saying why
        if policy is not None:
            pull_verifier(policy, self._remote_signatures)(ref, digests)

    def _remote_signatures(self, ref: Reference, digest: Digest) -> list:
        from wharfie.signing.images import remote_signatures

        return remote_signatures(ref, digest, self.registries)

    @cached_property
    def content(self) -> ContentStore:
        """The blob store under ``root``."""
        from wharfie.content.blobstore import ContentStore

        return ContentStore(self.root)

    @cached_property
    def store(self) -> ImageStore:
        """The image store under ``root`` (names, manifests, blobs)."""
        from wharfie.images.imagestore import ImageStore

        return ImageStore(self.root, self.content)

    def with_registries(self, registries: RegistryOptions) -> Client:
        """A client on the same root, sharing this one's open store, that reaches
        registries with ``registries``.

        >>> c.with_registries(wharfie.RegistryOptions(insecure=True)).pull(...)  # doctest: +SKIP
        """
        other = Client(self.root, registries=registries, progress=self.progress)
        for opened in ("content", "store"):  # cached_property values
            if opened in self.__dict__:
                other.__dict__[opened] = self.__dict__[opened]
        return other

    def close(self) -> None:
        """Close the store's database connection (it reopens on next use)."""
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the local store ----------------------------------------------------------------------

    def image(self, ref: str) -> Image:
        """The stored image a name, ID or digest designates.

        >>> wharfie.Client().image("busybox:latest").config.platform   # doctest: +SKIP
        """
        return self.store.resolve(ref)

    def image_or_index(self, ref: str) -> Image | ImageIndex:
        """What a name designates, an index as an index (``image`` picks one of its images)."""
        return self.store.open_target(ref)

    def images(self, filters: Mapping[str, list[str]] | Iterable[str] | None = None, *,
               all: bool = False, repository: str | None = None) -> list[ImageSummary]:
        """List images as ``wharfie images`` does; ``filters`` as ``--filter`` takes them.

        >>> wharfie.list_images(["reference=busybox*"])          # doctest: +SKIP
        >>> c.images({"dangling": ["true"]}, all=True)           # doctest: +SKIP
        """
        store = self.store
        listed = store.list()
        if filters or repository or not all:
            from wharfie.images.filters import (
                LIST_FILTERS,
                ListOptions,
                filter_images,
            )

            chosen = _filters(filters, LIST_FILTERS)
            if repository:
                chosen.setdefault("reference", []).append(repository)
            listed = filter_images(store, listed, ListOptions(all=all, filters=chosen))
        return [ImageSummary(id=img.id, digest=img.manifest_digest,
                             repo_tags=list(img.repo_tags), repo_digests=list(img.repo_digests),
                             created=img.created_ts, size=img.size, labels=dict(img.labels),
                             compressed_size=img.compressed_size)
                for img in listed]

    def inspect(self, ref: str) -> dict[str, Any]:
        """The document ``wharfie inspect REF`` prints (Docker's image inspect object).

        >>> wharfie.inspect("busybox")["Config"]["Cmd"]     # doctest: +SKIP
        ['sh']
        """
        from wharfie.images.inspect import inspect_image

        return inspect_image(self.store.resolve(ref), str(self.root))

    def history(self, ref: str) -> list[HistoryEntry]:
        """The image's build steps, newest first, as ``wharfie history`` shows them.

        >>> [h.created_by for h in wharfie.history("busybox")]   # doctest: +SKIP
        """
        from wharfie.images.inspect import history

        img = self.store.resolve(ref)
        return history(img, self.store.layer_sizes(img))

    def tag(self, src: str, dst: RefLike) -> None:
        """Name the image ``src`` designates ``dst`` too (``wharfie tag``).

        >>> wharfie.tag("busybox:latest", "mybox:1")    # doctest: +SKIP
        """
        store = self.store
        target = _ref(dst)
        store.tag(target, store.lookup(src))
        self._image_event("tag", self._image_id(src), target.familiar())

    def remove(self, ref: str, force: bool = False) -> Removal:
        """Untag and, when no name is left, delete an image (``wharfie rmi``).

        >>> wharfie.remove("mybox:1").untagged      # doctest: +SKIP
        """
        from wharfie.images.remove import remove_image

        image_id = self._image_id(ref)
        removal = remove_image(self.store, ref, force=force)
        for name in removal.untagged:
            self._image_event("untag", image_id, name.familiar())
        for gone in removal.deleted_images:
            self._image_event("delete", str(gone), str(gone))
        return removal

    def _image_id(self, ref: str) -> str:
        """The ID of the image ``ref`` names, for an event (``ref`` itself for an index)."""
        with contextlib.suppress(WharfieError):
            return str(self.store.resolve(ref).id)
        return ref

    def _image_event(self, action: str, actor: str, name: str) -> None:
        """Record an image event (docker's attributes: the name)."""
        from wharfie import events

        events.emit(self.root, "image", action, actor, {"name": name})

    def prune(self, *, all: bool = False,
              filters: Mapping[str, list[str]] | Iterable[str] | None = None) -> list[Removal]:
        """Remove dangling images (every unused one with ``all``), as ``wharfie image prune -f``.

        >>> sum(r.reclaimed for r in wharfie.prune(filters=["until=24h"]))   # doctest: +SKIP
        """
        from wharfie.images.prune import PRUNE_FILTERS, prune_images

        return prune_images(self.store, all=all, filters=_filters(filters, PRUNE_FILTERS),
                            in_use=self._images_in_use())

    def _images_in_use(self) -> frozenset[str]:
        """IDs of the images containers were created from."""
        from wharfie.containers.store import ContainerStore

        return frozenset(c.image_id for c in ContainerStore(self.root).list())

    def system_prune(self, *, all: bool = False, volumes: bool = False) -> SystemPrune:
        """``wharfie system prune``: stopped containers, with ``volumes`` the unused anonymous
        volumes, then dangling images (``all``: every image no container uses), then dangling
        build cache (``all``: all of it).

        >>> wharfie.system_prune(all=True).reclaimed      # doctest: +SKIP
        """
        removed, freed = self.prune_containers()
        vols, vol_bytes = self.prune_volumes() if volumes else ([], 0)
        images = self.prune(all=all)
        cache = self.prune_build_cache(all=all)
        return SystemPrune(removed, vols, images, cache, freed + vol_bytes
                           + sum(r.reclaimed for r in images) + cache.reclaimed)

    def system_df(self) -> SystemUsage:
        """Disk usage of images, containers and build cache (``wharfie system df``).

        >>> wharfie.system_df().images.reclaimable     # doctest: +SKIP
        """
        from wharfie.containers.launch import container_usage
        from wharfie.images.usage import disk_usage

        containers = container_usage(self.root)
        users: dict[str, int] = {}
        for u in containers:
            users[u.container.image_id] = users.get(u.container.image_id, 0) + 1
        return SystemUsage(disk_usage(self.store, users), containers)

    def version(self) -> dict[str, Any]:
        """``docker version``'s Client section: wharfie's version, API level, Python, OS/Arch."""
        from wharfie.api.sysinfo import version_info

        return version_info()

    def info(self) -> dict[str, Any]:
        """``docker info``'s fields: image and container counts, storage driver, host,
        registry mirrors and insecure registries (loopback is always plain-HTTP capable)."""
        from wharfie.api.sysinfo import system_info
        from wharfie.transports.registry import config

        entries = config.load().entries.values()
        mirrors = [*self.registries.mirrors.values(),
                   *(m.host for e in entries for m in e.mirrors)]
        insecure = ["127.0.0.0/8", "::1/128", *(e.location for e in entries if e.insecure)]
        return system_info(self.root, images=len(self.images()),
                           statuses=[c.status for c in self.containers(all=True)],
                           mirrors=mirrors, insecure=insecure)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify every blob and reference; with ``repair`` remove what is broken
        (``wharfie system check``).

        >>> wharfie.check().ok      # doctest: +SKIP
        True
        """
        from wharfie.images.check import check_store

        return check_store(self.store, repair=repair)

    def squash(self, ref: str, *, tags: Iterable[RefLike] = (), keep_base: int = 0,
               compression: str = "gzip") -> Image:
        """Merge an image's layers into one (``wharfie image squash``). Without ``tags`` the
        name ``ref`` moves to the result when ``ref`` is a name of the image.

        >>> wharfie.squash("app:1", keep_base=1).id     # doctest: +SKIP
        """
        from wharfie.builder.squash import squash

        store = self.store
        source = store.resolve(ref)
        refs = [_ref(t) for t in tags]
        if not refs:
            with contextlib.suppress(InvalidReference):
                own = _ref(ref)
                if own in store.refs(str(source.manifest_digest)):
                    refs = [own]
        new = squash(store, source, keep_base=keep_base, compression=compression)
        for r in refs:
            store.tag(r, new.manifest_digest)
        return new

    # -- archives -----------------------------------------------------------------------------

    def load(self, source: PathOrStream, *, platform: str | Platform | None = None,
             on_bytes: Callable[[int], None] | None = None) -> list[Loaded]:
        """Load every image of a ``docker save`` or OCI archive; each result has the image
        ``id``, ``manifest_digest``, the ``tags`` it now has and the IDs it ``replaced``.
        ``on_bytes(n)`` is told how many archive bytes were read.

        >>> [x.tags for x in wharfie.load("busybox.tar")]      # doctest: +SKIP
        """
        from wharfie.transports.archive import load_archive

        with _reading(source, "tar archive") as stream:
            loaded = load_archive(stream, self.store, progress=on_bytes,
                                  platform=_platform(platform))
        for x in loaded:
            self._image_event("load", str(x.id), x.tags[0].familiar() if x.tags else str(x.id))
        return loaded

    def save(self, refs: str | Iterable[str], target: PathOrStream) -> None:
        """Write images to a ``docker save`` archive: a file path (replaced whole when
        finished) or a binary stream.

        >>> wharfie.save(["busybox:latest"], "busybox.tar")    # doctest: +SKIP
        """
        from wharfie.transports.archive import save_archive, select_images, write_archive

        chosen = select_images(self.store, [refs] if isinstance(refs, str) else refs)
        if isinstance(target, (str, os.PathLike)):
            save_archive(Path(target), chosen)
        else:
            write_archive(target, chosen)
        for image, names in chosen:
            self._image_event("save", str(image.id), names[0].familiar() if names
                              else str(image.id))

    def import_image(self, source: PathOrStream, ref: RefLike | None = None, *,
                     changes: Iterable[str] = (), message: str | None = None,
                     platform: str | Platform | None = None) -> Image:
        """Make a one-layer image from a root filesystem tar (``wharfie import``);
        ``changes`` are Dockerfile instructions (``"CMD [\\"sh\\"]"``) applied to its config.

        >>> wharfie.import_image("rootfs.tar", "base:1", changes=["CMD sh"])   # doctest: +SKIP
        """
        from wharfie.builder.changes import apply_changes
        from wharfie.transports.importer import import_image

        config = apply_changes({}, tuple(changes))
        name = _ref(ref) if ref is not None else None
        if name is not None and name.digest is not None:
            raise InvalidReference(f"invalid reference format: {str(ref)!r} has a digest; "
                                   "import takes REPOSITORY[:TAG]")
        with _reading(source, "tarball") as stream:
            image = import_image(stream, self.store, name, config=config, message=message,
                                 platform=_platform(platform))
        stored = self.store.get(str(image.digest))
        self._image_event("import", str(stored.id), name.familiar() if name else str(stored.id))
        return stored

    # -- registries ---------------------------------------------------------------------------

    def pull_result(self, ref: RefLike, *, platform: str | Platform | None = None,
                    progress: Progress | None = None) -> PullResult:
        """``pull``, telling also the registry's digest and whether the name moved."""
        from wharfie.transports.pull import pull_image

        name = _ref(ref)
        result = pull_image(self.store, name, self.registries, platform=_platform(platform),
                            progress=progress or self.progress)
        self._image_event("pull", name.familiar(), name.familiar_name)
        return result

    def pull(self, ref: RefLike, *, platform: str | Platform | None = None) -> Image:
        """Download an image (the host's platform of an index, or ``platform``) into the
        store, named ``ref``; blobs the store has are not fetched again.

        >>> img = wharfie.pull("127.0.0.1:5000/busybox:1.36")   # doctest: +SKIP
        >>> img.manifest_digest                                  # doctest: +SKIP
        """
        return self.pull_result(ref, platform=platform).image

    def push(self, ref: RefLike, dest: RefLike | None = None, *,
             progress: Progress | None = None,
             mounted: dict[Digest, str] | None = None,
             sign_by: str | os.PathLike[str] | None = None,
             password: bytes | None = None, compression: str = "gzip",
             force_compression: bool = False,
             layer_ids: dict[Digest, Digest] | None = None) -> PushResult:
        """Upload the stored image ``ref`` to its registry (or to ``dest``); blobs the
        registry has, or can mount from a repository they came from, are not uploaded
        (``mounted`` is filled with digest -> repository of those mounted, ``layer_ids``
        with digest -> diffID of each layer). Uncompressed layers go up compressed with
        ``compression`` (gzip, zstd or none), and with ``force_compression`` every layer
        compressed otherwise too. Signatures the store holds for it go along; ``sign_by``
        (a private key file) signs what was pushed.

        >>> wharfie.push("127.0.0.1:5000/app:1").digest       # doctest: +SKIP
        """
        from wharfie.security.sbom.attest import push_attestation
        from wharfie.signing.attach import local_signatures
        from wharfie.transports.push import push_image

        source, target = _ref(ref), _ref(dest) if dest is not None else None
        if self._signed_locally(source):  # a signature names the manifest digest
            if force_compression:
                raise InvalidInput(f"{source.familiar()} is signed: --force-compression "
                                   "would change its digest and void the signature")
            compression = "none"
        result = push_image(self.store, source, self.registries, dest=target,
                            progress=progress or self.progress, mounted=mounted,
                            compression=compression, force_compression=force_compression,
                            layer_ids=layer_ids)
        # signatures made in the store (``sign --local``) go along with the image (the
        # signing modules load cryptography: only then)
        if local_signatures(self.store, source, result.digest):
            from wharfie.signing.images import push_signatures

            push_signatures(self.store, source, result.digest, target or source,
                            self.registries)
        # and so does the SBOM ``build --sbom`` attached (an OCI referrer of the image)
        push_attestation(self.store, source, result.digest, target or source, self.registries)
        if sign_by is not None:
            self.sign((target or source).with_digest(result.digest), sign_by, password=password)
        pushed = target or source
        self._image_event("push", pushed.familiar(), pushed.familiar_name)
        return result

    def _signed_locally(self, ref: Reference) -> bool:
        """Does the store hold a signature (``sign --local``) of the image ``ref`` names?"""
        from wharfie.signing.attach import local_signatures

        try:
            digest = self.store.open_target(str(ref)).digest
        except NotFound:
            return False  # push says so, in docker's words
        return bool(local_signatures(self.store, ref, digest))

    def copy(self, src: str | TransportName, dst: str | TransportName, *, all: bool = False,
             platform: str | Platform | None = None,
             progress: Progress | None = None) -> Digest:
        """Copy an image between transports, named as skopeo names them: ``docker://REF``,
        ``oci:DIR[:TAG]``, ``oci-archive:FILE[:TAG]``, ``docker-archive:FILE[:REF]``,
        ``wharfie:REF``. An index is copied whole with ``all``. Returns the manifest digest.

        >>> wharfie.copy("docker://127.0.0.1:5000/app:1", "oci:/tmp/layout:app")  # doctest: +SKIP
        """
        from wharfie.transports.copy import Endpoints, copy
        from wharfie.transports.names import parse_name

        source = parse_name(src) if isinstance(src, str) else src
        dest = parse_name(dst) if isinstance(dst, str) else dst
        env = Endpoints(images=lambda: self.store, options=self.registries,
                        scratch=self._scratch("copy"))
        return copy(source, dest, env, all=all, platform=_platform(platform),
                    progress=progress or self.progress)

    def _scratch(self, what: str) -> Path:
        """A private directory name under the root (same filesystem as the store); the
        operation creates it when it needs it and removes it when done."""
        import secrets

        return self.root / "tmp" / f"{what}-{os.getpid()}-{secrets.token_hex(4)}"

    def tags(self, repository: RefLike) -> list[str]:
        """Every tag of a registry repository (all pages), as the registry lists them.

        >>> wharfie.tags("127.0.0.1:5000/busybox")       # doctest: +SKIP
        ['1.36', 'latest']
        """
        ref = _ref(repository, default_tag=False)
        return list(self.registries.registry(ref.domain).tags(ref.path))

    def search(self, term: str, *, limit: int = 25) -> list[str]:
        """Repositories of registry HOST whose name contains TERM (``HOST/TERM``), from its
        ``_catalog``; Docker Hub's search API is not spoken, so ``docker.io`` is refused."""
        host, _, text = term.partition("/")
        if not text or ("." not in host and ":" not in host and host != "localhost"):
            host, text = "docker.io", term
        if host == "docker.io":
            raise InvalidInput(f"cannot search {term!r}: Docker Hub's search API is not "
                               "supported; search a registry with a catalog: HOST/TERM")
        names = self.registries.registry(host).catalog()
        return [f"{host}/{n}" for n in names if text in n][:limit]

    def manifest(self, ref: RefLike) -> bytes:
        """A manifest or index exactly as the registry serves it.

        >>> json.loads(wharfie.manifest("127.0.0.1:5000/busybox:1.36"))   # doctest: +SKIP
        """
        from wharfie.oci.image import ImageIndex
        from wharfie.transports.registry.source import open_remote

        remote = open_remote(_ref(ref), self.registries)
        return remote.index_bytes()[0] if isinstance(remote, ImageIndex) \
            else remote.manifest_bytes()[0]

    def inspect_remote(self, ref: RefLike, *, platform: str | Platform | None = None,
                       config: bool = False) -> dict[str, Any]:
        """``skopeo inspect``'s document for a registry image, without pulling it (with
        ``config``: the image configuration). An index answers for ``platform`` (the host's).

        >>> wharfie.inspect_remote("127.0.0.1:5000/busybox:1.36")["Digest"]   # doctest: +SKIP
        """
        import json

        from wharfie.oci.image import ImageIndex
        from wharfie.oci.platform import host_platform
        from wharfie.transports.registry.source import open_remote

        name = _ref(ref)
        remote = open_remote(name, self.registries)
        image = remote.image_for(_platform(platform) or host_platform()) \
            if isinstance(remote, ImageIndex) else remote
        cfg = image.config
        if config:
            return json.loads(cfg.raw)
        return {
            "Name": name.name,
            "Digest": remote.digest,
            "RepoTags": self.tags(name),
            "Created": cfg.created,
            "DockerVersion": cfg.doc.get("docker_version", ""),
            "Labels": cfg.labels or None,
            "Architecture": cfg.platform.architecture,
            "Os": cfg.platform.os,
            "Layers": [d.digest for d in image.manifest.layers],
            "LayersData": [{"MIMEType": d.media_type, "Digest": d.digest, "Size": d.size,
                            "Annotations": d.annotations or None}
                           for d in image.manifest.layers],
            "Env": cfg.config.get("Env"),
        }

    def delete_remote(self, ref: RefLike) -> Digest:
        """Delete a manifest from its registry (a tag: the manifest it points at); returns
        the digest deleted.

        >>> wharfie.delete_remote("127.0.0.1:5000/app:old")     # doctest: +SKIP
        """
        name = _ref(ref)
        registry = self.registries.registry(name.domain, push=True)
        digest = name.digest
        if digest is None:
            desc = registry.head_manifest(name.path, name.identifier)
            if desc is None:
                raise NotFound(f"{name.familiar()}: manifest unknown")
            digest = desc.digest
        registry.delete_manifest(name.path, digest)
        return digest

    def login(self, server: str | None, username: str, password: str) -> str | Path:
        """Check credentials against a registry, then store them as ``docker login`` does;
        returns where (a credential helper's name, or the config.json path written in clear).

        >>> wharfie.login("127.0.0.1:5000", "alice", "secret")   # doctest: +SKIP
        """
        from dataclasses import replace

        from wharfie.transports.registry import credentials as creds

        host = _login_host(server)
        given = creds.Credentials(username, password)
        checking = replace(self.registries, credentials=given, _registries={})
        checking.registry(host, push=True).check_login()
        return creds.store(host, given)

    def logout(self, server: str | None = None) -> bool:
        """Forget the stored credentials of a registry; False when there were none.

        >>> wharfie.logout("127.0.0.1:5000")     # doctest: +SKIP
        """
        from wharfie.transports.registry import credentials as creds

        return creds.erase(_login_host(server))

    # -- signing ------------------------------------------------------------------------------

    def generate_key(self, prefix: str | os.PathLike[str], password: bytes) -> tuple[Path, Path]:
        """Write an ECDSA P-256 pair as cosign does: ``PREFIX.key`` (encrypted with
        ``password``) and ``PREFIX.pub``; existing files are not overwritten.

        >>> c.generate_key("cosign", b"secret")      # doctest: +SKIP
        (PosixPath('cosign.key'), PosixPath('cosign.pub'))
        """
        from wharfie.signing.keys import generate_key_pair

        private, public = Path(f"{os.fspath(prefix)}.key"), Path(f"{os.fspath(prefix)}.pub")
        for path in (private, public):
            if path.exists():
                raise InvalidInput(f"{path} already exists: not overwriting a key")
        pair = generate_key_pair(password)
        with open(private, "xb") as f:  # created owner-only, as cosign's 0600
            os.fchmod(f.fileno(), 0o600)
            f.write(pair.private_pem)
        public.write_bytes(pair.public_pem)
        return private, public

    def sign(self, ref: RefLike, key: str | os.PathLike[str], *, password: bytes | None = None,
             annotations: Mapping[str, str] | None = None, recursive: bool = False,
             local: bool = False, bundle: bool = False) -> list:
        """Sign ``ref`` with the private key file ``key`` in cosign's layout: in its registry,
        or (``local``) in the store, where ``push`` carries the signature along. ``password``
        defaults to ``$WHARFIE_PASSWORD`` / ``$COSIGN_PASSWORD``; ``recursive`` signs every
        manifest of an index too; ``bundle`` also attaches a Sigstore bundle as a referrer
        (cosign v3's layout). Returns a ``wharfie.signing.images.Signed`` per manifest.

        >>> c.sign("127.0.0.1:5000/app:1", "cosign.key", password=b"secret")  # doctest: +SKIP
        """
        from wharfie.signing.images import sign_local, sign_remote
        from wharfie.signing.keys import load_private_key, password_from_env

        with _reading(key, "key file") as f:
            private = load_private_key(f.read(), password if password is not None
                                       else password_from_env())
        target = _ref(ref)
        if local:
            return sign_local(self.store, target, private, annotations=annotations,
                              recursive=recursive)
        return sign_remote(self.store, target, private, self.registries,
                           annotations=annotations, recursive=recursive, bundle=bundle)

    def verify(self, ref: RefLike, key: str | os.PathLike[str], *, local: bool = False,
               identity: Mapping[str, Any] | None = None) -> Any:
        """Check ``ref``'s signatures (in its registry, or ``local``ly) against the public
        key file ``key``; ``identity`` is a policy.json ``signedIdentity`` (cosign's
        same-repository rule by default). Returns a ``wharfie.signing.verify.Verified``;
        raises ``SignatureRejected`` (``.reason``: missing, key, digest, identity, tampered).

        >>> c.verify("127.0.0.1:5000/app:1", "cosign.pub").digest   # doctest: +SKIP
        """
        from wharfie.signing.identity import SignedIdentity
        from wharfie.signing.images import verify_local, verify_remote
        from wharfie.signing.keys import read_public_key

        public = read_public_key(key)
        rule = SignedIdentity.parse(dict(identity)) if identity else SignedIdentity(
            "matchRepository")
        target = _ref(ref)
        if local:
            return verify_local(self.store, target, [public], identity=rule)
        return verify_remote(target, [public], self.registries, identity=rule)

    # -- building -----------------------------------------------------------------------------

    def build(self, context: str | os.PathLike[str], *, tag: RefLike | Iterable[RefLike] | None = None,
              dockerfile: str | os.PathLike[str] | None = None,
              build_args: Mapping[str, str] | None = None, target: str | None = None,
              outputs: Iterable[str] | None = None, cache_from: Iterable[str] | None = None,
              cache_to: Iterable[str] | None = None, secrets: Iterable[str] | None = None,
              emit: Callable[[BuildEvent], None] | None = None,
              **more: Any) -> BuildResult:
        """Build a Dockerfile as ``wharfie build`` does (RUN steps in runc containers).
        ``tag`` is one name or several; ``more`` takes the other fields of
        ``wharfie.builder.BuildOptions`` (``labels``, ``no_cache``, ``platform``, ...);
        ``emit(event)`` sees the build's progress events.

        >>> r = wharfie.build("examples/hello", tag="hello:1")   # doctest: +SKIP
        >>> r.image_id                                           # doctest: +SKIP
        """
        from wharfie.builder import BuildOptions

        tags = [] if tag is None else [tag] if isinstance(tag, str) else list(tag)
        given = {"dockerfile": dockerfile, "build_args": dict(build_args) if build_args else None,
                 "target": target, "outputs": _list(outputs), "cache_from": _list(cache_from),
                 "cache_to": _list(cache_to), "secrets": _list(secrets)}
        options = BuildOptions(context=context, tags=[str(t) for t in tags],
                               **{k: v for k, v in given.items() if v is not None}, **more)
        return self.build_with(options, emit=emit)

    def build_check(self, options: BuildOptions) -> BuildCheckReport:
        """Run the Dockerfile's build checks without building (``wharfie build --check``).

        >>> c.build_check(wharfie.BuildOptions("examples/hello")).findings   # doctest: +SKIP
        """
        from wharfie.builder import check

        return check(self.store, options)

    def build_with(self, options: BuildOptions, *,
                   emit: Callable[[BuildEvent], None] | None = None) -> BuildResult:
        """Build from a complete ``wharfie.builder.BuildOptions`` (what ``build`` makes)."""
        from wharfie.builder import build

        return build(self.store, options, registries=self.registries, emit=emit)

    def prune_build_cache(self, *, all: bool = False, until: float | None = None,
                          keep_storage: int | None = None) -> PruneReport:
        """Remove build cache (``wharfie builder prune``); ``all`` takes every entry.

        >>> wharfie.prune_build_cache(all=True)      # doctest: +SKIP
        """
        from wharfie.builder import prune_cache

        return prune_cache(self.store, everything=all, until=until, keep_storage=keep_storage)

    # -- security -----------------------------------------------------------------------------

    def sbom(self, ref: str, *, scope: str = "squashed") -> Sbom:
        """The packages of ``ref`` (a stored image or a transport name such as
        ``docker://REF``), each with the layer and step that added it (``wharfie sbom``).

        >>> [f.package.name for f in c.sbom("debian:12").packages][:2]   # doctest: +SKIP
        """
        from wharfie.imagefs import open_source
        from wharfie.security.sbom import generate

        with open_source(ref, self.store, options=self.registries) as source:
            return generate(source.image, name=ref, scope=scope)

    def sbom_attestation(self, ref: str) -> dict:
        """The SPDX SBOM attached to ``ref`` (``build --sbom``): a stored image's from the
        store, a ``docker://REF``'s from its registry's referrers
        (``wharfie sbom --from-attestation``)."""
        from wharfie.security.sbom.attest import read_local, read_remote

        if ref.startswith("docker://"):
            return read_remote(_ref(ref.removeprefix("docker://")), self.registries)
        return read_local(self.store, _ref(ref))

    def analyze(self, ref: str, *, base: str | None = None,
                platform: str | None = None) -> Analysis:
        """How efficiently ``ref`` (a stored image or a transport name) uses its bytes: dive's
        figures, plus each waste with the step that caused it and its fix
        (``wharfie image analyze``). ``base`` names the FROM image outright.

        >>> round(c.analyze("app:1").efficiency, 3)   # doctest: +SKIP
        0.992
        """
        from wharfie.analysis import analyze
        from wharfie.imagefs import open_source
        from wharfie.oci.platform import parse_platform

        with open_source(ref, self.store, options=self.registries,
                         platform=parse_platform(platform) if platform else None) as source:
            return analyze(source, base=self.store.resolve(base) if base else None,
                           images=self.store)

    def scan(self, ref: str, options: ScanOptions | None = None, **kwargs: Any) -> ScanReport:
        """Vulnerabilities, secrets and misconfigurations of ``ref`` (``wharfie scan``);
        ``kwargs`` are ``wharfie.security.report.ScanOptions`` fields.

        >>> c.scan("app:1", scanners=("vuln", "secret")).vulnerabilities   # doctest: +SKIP
        """
        from wharfie.imagefs import open_source
        from wharfie.security.report import ScanOptions, scan_image

        options = options or ScanOptions(**kwargs)
        with open_source(ref, self.store, options=self.registries) as source:
            return scan_image(source.image, self.root, options, name=ref,
                              bases=list(self.store.list()))

    def db_import(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Import advisories (OSV, Debian tracker, Alpine secdb) into the local
        vulnerability database: (kinds, ranges imported)."""
        from wharfie.security.vulns.db import import_path

        return import_path(self.root, Path(path))

    def db_status(self) -> list[dict[str, Any]]:
        """The vulnerability database's sources: path, kind, imported, records."""
        from wharfie.security.vulns.db import status

        return status(self.root)

    def db_push(self, ref: RefLike) -> PushResult:
        """Push the vulnerability database to ``ref`` as an OCI artifact (``db push``)."""
        from wharfie.security.vulns.transfer import push_db

        return push_db(self.root, self.store, _ref(ref), self.registries)

    def db_pull(self, ref: RefLike) -> tuple[Digest, int]:
        """Replace the vulnerability database with the artifact at ``ref`` (``db pull``):
        (its manifest digest, the ranges it holds)."""
        from wharfie.security.vulns.transfer import pull_db

        return pull_db(self.root, _ref(ref), self.registries)

    # -- containers ---------------------------------------------------------------------------

    def containers(self, *, all: bool = False,
                   filters: Mapping[str, list[str]] | None = None) -> list[Container]:
        """Containers, newest first; running ones unless ``all`` (``wharfie ps``)."""
        from wharfie.containers.inspect import matches
        from wharfie.containers.store import ContainerStore

        found = ContainerStore(self.root).list()
        return [c for c in found if (all or filters or c.running)
                and matches(c, dict(filters or {}))]

    def container(self, ref: str) -> Container:
        """A container by name, ID or unique ID prefix."""
        from wharfie.containers.store import ContainerStore

        return ContainerStore(self.root).get(ref)

    def _ensure_image(self, image: str, pull: str, on_pull: Callable[[str], None] | None,
                      platform: str | None = None) -> None:
        """``--pull always|missing|never``: fetch ``image`` (for ``platform``) when the policy
        says so; a local image for another platform than ``platform`` counts as missing."""
        if pull not in ("always", "missing", "never"):
            raise InvalidInput(f'invalid pull option: \'{pull}\': must be one of '
                               '"always", "missing" or "never"')
        wanted = _platform(platform)
        try:
            target = self.store.open_target(image)
            have = target.config.platform if hasattr(target, "config") else None
            if wanted is not None and have and have.os and not wanted.matches(have):
                raise NotFound(f"No such image: {image}")
            if pull != "always":
                return
        except (NotFound, InvalidReference):
            if pull == "never":
                raise NotFound(f"No such image: {image}") from None
            if on_pull is not None:  # "Unable to find image" only when it is missing
                on_pull(image)
        self.pull(image, platform=wanted)

    def create(self, image: str, options: CreateOptions | None = None, *,
               pull: str = "missing", on_pull: Callable[[str], None] | None = None) -> Container:
        """A new container of ``image`` (pulled if missing), not started (``wharfie create``)."""
        from wharfie.containers.lifecycle import CreateOptions, create

        options = options or CreateOptions()
        self._ensure_image(image, pull, on_pull, options.platform)
        return create(self.root, self.store, image, options)

    def start(self, ref: str) -> Container:
        """Start a created or stopped container under its monitor; returns once it runs."""
        from wharfie.containers.lifecycle import start

        c = self.container(ref)
        start(self.root, c)
        return self.container(c.id)

    def run(self, image: str, options: CreateOptions | None = None, *, detach: bool = False,
            pull: str = "missing", sig_proxy: bool = True,
            on_pull: Callable[[str], None] | None = None) -> tuple[Container, int | None]:
        """``wharfie run``: create and start; unless ``detach``, stay attached (output to our
        stdout/stderr, our stdin with ``interactive``) and return the container's exit code.
        SIGINT and SIGTERM are forwarded to the container with ``sig_proxy``."""
        from wharfie.containers.lifecycle import forwarding_signals, start, wait_report

        c = self.create(image, options, pull=pull, on_pull=on_pull)
        if detach:
            start(self.root, c)
            return c, None
        with forwarding_signals(self.root, c.id, sig_proxy, started=False) as now_started:
            fd = start(self.root, c, attach=True)
            now_started()
            code = wait_report(fd) if fd is not None else None
        if code is None:  # the monitor went away without a word: trust its state
            code = self.wait(c.id)
        return c, code

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        """The stop signal, then SIGKILL after ``timeout`` seconds (``wharfie stop``)."""
        from wharfie.containers.lifecycle import stop

        stop(self.root, self.container(ref), timeout, signal)

    def restart(self, ref: str, timeout: int | None = None) -> None:
        from wharfie.containers.lifecycle import restart

        restart(self.root, self.container(ref), timeout)

    def kill(self, ref: str, signal: str = "KILL") -> None:
        from wharfie.containers.lifecycle import kill

        kill(self.root, self.container(ref), signal)

    def wait(self, ref: str) -> int:
        """Block until the container stops; its exit code."""
        from wharfie.containers.lifecycle import wait

        return wait(self.root, self.container(ref))

    def pause(self, ref: str) -> None:
        from wharfie.containers.lifecycle import pause

        pause(self.root, self.container(ref))

    def unpause(self, ref: str) -> None:
        from wharfie.containers.lifecycle import unpause

        unpause(self.root, self.container(ref))

    def rename(self, ref: str, name: str) -> None:
        from wharfie.containers.lifecycle import rename

        rename(self.root, self.container(ref), name)

    def update(self, ref: str, limits: Limits, *, restart: str | None = None) -> None:
        """``wharfie update``: new resource limits (and restart policy) for a container,
        applied at once if it runs."""
        from wharfie.containers.lifecycle import update

        update(self.root, self.container(ref), limits, restart)

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """``wharfie rm``: a running container only with ``force`` (killed first)."""
        from wharfie.containers.lifecycle import remove

        remove(self.root, self.container(ref), force=force, volumes=volumes)

    def prune_containers(self) -> tuple[list[str], int]:
        """Remove every stopped container; their IDs and the bytes reclaimed."""
        from wharfie.containers.lifecycle import prune

        return prune(self.root)

    def inspect_container(self, ref: str) -> dict[str, Any]:
        """docker's container inspect document."""
        from wharfie.containers.inspect import document

        return document(self.root, self.container(ref))

    def inspect_object(self, ref: str, type: str | None = None) -> dict[str, Any]:
        """``docker inspect``'s document for ``ref``: the container of that name or ID, else
        the image (``type`` "container" or "image" looks for that kind only)."""
        if type in (None, "container"):
            try:
                return self.inspect_container(ref)
            except NotFound:
                if type == "container":
                    raise
        return self.inspect(ref)

    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None) -> Iterator[Any]:
        """A container's log records (``stream``, ``data``, ``stamp``), following with
        ``follow`` until it stops."""
        from wharfie.containers.logs import parse_since, read_logs, readable_log
        from wharfie.containers.store import ContainerStore

        c = self.container(ref)
        store = ContainerStore(self.root)
        return read_logs(readable_log(store.home(c.id), c.id, c.host_config), tail=tail,
                         since_ns=parse_since(since) if since else None,
                         until_ns=parse_since(until) if until else None, follow=follow,
                         done=lambda: not store.get(c.id).running)

    def attach(self, ref: str, write: Callable[[str, bytes], None], *,
               sig_proxy: bool = True) -> int:
        """``wharfie attach``: the running container's output from now on, each chunk to
        ``write(stream, data)`` as it is written, until it exits; its exit code. SIGINT and
        SIGTERM are forwarded to it with ``sig_proxy``."""
        from wharfie.containers.lifecycle import attach

        return attach(self.root, self.container(ref), write, sig_proxy=sig_proxy)

    def events(self, *, since: str | None = None, until: str | None = None,
               filters: Mapping[str, list[str]] | Iterable[str] | None = None
               ) -> Iterator[dict[str, Any]]:
        """docker's event messages from the event log, oldest first, ``filters`` as
        ``events --filter``; without ``until`` it follows the log (stop iterating to end).
        ``since``/``until``: RFC 3339, Unix seconds or a duration before now (``10m``)."""
        from wharfie import events
        from wharfie.images.filters import parse_until

        wanted = _filters(filters, events.FILTERS)
        since_ns, until_ns = (int(parse_until(t) * 1e9) if t else None for t in (since, until))
        return (e for e in events.read(self.root, since_ns=since_ns, until_ns=until_ns,
                                       follow=until is None) if events.matches(e, wanted))

    def exec(self, ref: str, args: list[str], **options: Any) -> int:
        """Run ``args`` in a running container (``wharfie exec``); its exit code."""
        from wharfie.containers.lifecycle import ExecOptions, exec_

        return exec_(self.root, self.container(ref), ExecOptions(args=list(args), **options))

    def top(self, ref: str, ps_args: list[str] | None = None) -> str:
        from wharfie.containers.lifecycle import top

        return top(self.root, self.container(ref), list(ps_args or []))

    def stats(self, refs: Iterable[str] = (), *, all: bool = False) -> list[ContainerStats]:
        """``wharfie stats --no-stream``: resource use of the named containers (the running
        ones by default, every one with ``all``), from their cgroups."""
        from wharfie.containers.stats import stats

        chosen = [self.container(r) for r in refs] if refs else self.containers(all=all)
        return stats(self.root, chosen)

    def diff(self, ref: str) -> list[tuple[str, str]]:
        """``wharfie diff``: (A|C|D, path) for what the container changed."""
        from wharfie.containers.changes import diff

        return diff(self.root, self.container(ref))

    def commit(self, ref: str, repository: RefLike | None = None, *, message: str = "",
               author: str = "", changes: Iterable[str] = (), pause: bool = True) -> str:
        """A new image from a container's changes (``wharfie commit``); its ID. ``changes``
        are Dockerfile instructions, as for ``import_image``."""
        from wharfie.builder.changes import apply_changes
        from wharfie.containers.changes import commit
        from wharfie.containers.lifecycle import pause as pause_
        from wharfie.containers.lifecycle import unpause

        c = self.container(ref)
        lines = tuple(changes)
        paused = pause and c.status == "running"
        if paused:
            pause_(self.root, c)
        try:
            return commit(self.root, self.store, c,
                          _ref(repository) if repository is not None else None,
                          message=message, author=author,
                          changes=(lambda cfg: apply_changes(cfg, lines)) if lines else None)
        finally:
            if paused:
                unpause(self.root, self.container(c.id))

    def copy_from_container(self, ref: str, src: str, dest: str | os.PathLike[str] | IO[bytes],
                            *, follow: bool = False, archive: bool = False) -> None:
        """``cp CONTAINER:SRC DEST``; ``dest`` a path, or a stream for a tar."""
        from wharfie.containers.changes import copy_out, tar_out

        c = self.container(ref)
        if isinstance(dest, (str, os.PathLike)):
            copy_out(self.root, c, src, Path(dest), follow=follow, archive=archive)
        else:
            tar_out(self.root, c, src, dest, follow=follow)

    def copy_to_container(self, ref: str, src: str | os.PathLike[str], dest: str, *,
                          follow: bool = False, archive: bool = False) -> None:
        """``cp SRC CONTAINER:DEST``; DEST resolved inside the container's root."""
        from wharfie.containers.changes import copy_in

        copy_in(self.root, self.container(ref), Path(src), dest, follow=follow,
                archive=archive)

    def volumes(self) -> list[Any]:
        from wharfie.containers.volumes import Volumes

        return Volumes(self.root).list()

    def create_volume(self, name: str | None = None,
                      labels: Mapping[str, str] | None = None) -> Any:
        from wharfie.containers.volumes import Volumes

        return Volumes(self.root).create(name, dict(labels or {}))

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        from wharfie.containers.volumes import Volumes, volumes_in_use

        Volumes(self.root).remove(name, volumes_in_use(self.root), force=force)

    def prune_volumes(self, *, all: bool = False) -> tuple[list[str], int]:
        """Remove unused anonymous volumes (every unused one with ``all``); their names and
        the bytes reclaimed."""
        from wharfie.containers.volumes import Volumes, volumes_in_use

        return Volumes(self.root).prune(volumes_in_use(self.root), all=all)

def _login_host(server: str | None) -> str:
    from wharfie.oci.reference import DEFAULT_DOMAIN
    from wharfie.transports.registry import credentials as creds

    return creds.host_of(server) if server else DEFAULT_DOMAIN


def _list(values: Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def _filters(given: Mapping[str, list[str]] | Iterable[str] | None,
             allowed: set[str]) -> dict[str, list[str]]:
    """``["label=a", "dangling=true"]`` (``--filter``) or a mapping, checked against
    what the command accepts."""
    from wharfie.images.filters import parse_filters

    if not given:
        return {}
    if isinstance(given, Mapping):
        items = [f"{k}={v}" for k, vs in given.items()
                 for v in ([vs] if isinstance(vs, str) else vs)]
    else:
        items = [given] if isinstance(given, str) else list(given)
    return parse_filters(items, allowed)


__all__ = ["Client", "ImageSummary", "WharfieError"]
