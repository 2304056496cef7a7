"""``docker import``: a root filesystem tarball becomes a one-layer image.

The tarball (plain or compressed) is read once: its bytes are hashed as they are
(the diffID), gzip-compressed and hashed again (the blob digest) on their way into
the content store, while ``tarfile`` walks the same bytes to prove it is a tar
with no entry escaping the root. ``--change`` lines are applied as Docker's
``BuildFromConfig`` does, for the instructions ``docker import`` allows.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shlex
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from wharfie.content.store import ContentStore
from wharfie.errors import InvalidInput
from wharfie.layers.compression import Compressor, auto_decompress
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image
from wharfie.oci.manifest import Descriptor, ImageConfig, Manifest
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference
from wharfie.transports.archive import ContentBlobs
from wharfie.transports.tarstream import DECODE_ERRORS, describe, is_corrupt_input

if TYPE_CHECKING:
    from wharfie.images.store import ImageStore

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER",
                       "VOLUME", "WORKDIR")


class _Tee:
    """A read-through stream: every byte read is hashed and compressed into the store."""

    def __init__(self, src: BinaryIO, compressor: Compressor) -> None:
        self._src, self._compressor = src, compressor
        self.diff = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        if data:
            self.diff.update(data)
            self._compressor.write(data)
            self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def created_now() -> str:
    """RFC 3339 UTC, from ``SOURCE_DATE_EPOCH`` when set (reproducible imports)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            when = datetime.fromtimestamp(int(epoch), UTC)
        except ValueError:
            raise InvalidInput(f"invalid SOURCE_DATE_EPOCH {epoch!r}") from None
    else:
        when = datetime.now(UTC)
    return when.isoformat().replace("+00:00", "Z")


def import_rootfs(stream: BinaryIO, content: ContentStore, *, changes: Sequence[str] = (),
                  message: str | None = None, platform: Platform | None = None,
                  source: str = "-") -> Image:
    """Store ``stream`` as a gzip layer plus config and manifest blobs; return the image.

    Nothing is named: the caller tags it. Docker records ``Imported from -`` when the
    tarball came through the client, which is always, for a local file.
    """
    config = apply_changes({}, list(changes))
    with content.writer() as blob:
        compressor = Compressor(blob, "gzip")  # type: ignore[arg-type]
        tee = _Tee(auto_decompress(stream), compressor)
        try:
            with tarfile.open(fileobj=tee, mode="r|", bufsize=1 << 20) as tf:
                for member in tf:
                    _check_member(member)
            tee.drain()
        except DECODE_ERRORS as e:
            if not is_corrupt_input(e):
                raise
            raise InvalidInput(f"invalid root filesystem tarball: {describe(e)}") from None
        if tee.size == 0:
            raise InvalidInput("invalid root filesystem tarball: empty input")
        compressor.finish()
        layer_digest = blob.commit()
        layer_size = blob.size
    diff_id = Digest(f"sha256:{tee.diff.hexdigest()}")
    plat = (platform or host_platform())
    created = created_now()
    comment = message or f"Imported from {source}"
    doc: dict = {"architecture": plat.architecture, "comment": comment, "config": config,
                 "created": created,
                 "history": [{"created": created, "comment": comment}],
                 "os": plat.os, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if plat.variant:
        doc["variant"] = plat.variant
    cfg = ImageConfig.from_doc(doc)
    content.put(cfg.raw)
    manifest = Manifest.build(
        Descriptor(mt.OCI_CONFIG, cfg.digest, len(cfg.raw)),
        [Descriptor(mt.OCI_LAYER_GZIP, layer_digest, layer_size)])
    content.put(manifest.raw)
    return BytesImage(manifest.raw, manifest.media_type, ContentBlobs(content))


def import_image(stream: BinaryIO, store: ImageStore, ref: Reference | None = None, *,
                 changes: Sequence[str] = (), message: str | None = None,
                 platform: Platform | None = None) -> Image:
    """``docker import``: import into the image store, then name it ``ref`` if given.

    The shared store lock spans ingest to record, so garbage collection cannot take the
    new layer before the manifest that needs it exists.
    """
    with store.content.lock(shared=True):
        image = import_rootfs(stream, store.content, changes=changes, message=message,
                              platform=platform)
        digest = store.put_image(image)
        if ref is not None:
            store.tag(ref, digest)
    return image


def _check_member(member: tarfile.TarInfo) -> None:
    norm = posixpath.normpath(member.name.lstrip("/"))
    if norm == ".." or norm.startswith("../"):
        raise InvalidInput(f"invalid root filesystem tarball: entry {member.name!r} "
                           "escapes the root")


# -- --change ----------------------------------------------------------------------------------

def apply_changes(config: dict, changes: Sequence[str]) -> dict:
    """Apply Dockerfile-style change lines to an image ``config`` dict (a new dict)."""
    config = json.loads(json.dumps(config))
    cmd_set = False
    for line in changes:
        line = line.strip()
        if not line:
            continue
        keyword, _, rest = line.partition(" ")
        if not rest.strip() and "\t" in keyword:
            keyword, _, rest = line.partition("\t")
        word, rest = keyword.upper(), rest.strip()
        if word not in CHANGE_INSTRUCTIONS:
            raise InvalidInput(f"{keyword} is not a valid change command")
        if not rest:
            raise InvalidInput(f"{word} requires at least one argument")
        _APPLY[word](config, rest, word)
        cmd_set = cmd_set or word == "CMD"
        if word == "ENTRYPOINT" and not cmd_set:
            config.pop("Cmd", None)  # as Docker: a new ENTRYPOINT drops an inherited CMD
    return config


def _json_list(rest: str) -> list[str] | None:
    """``rest`` as a JSON array of strings, or None if it is not one."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(x, str) for x in value) else None


def _json_or_shell(rest: str, word: str) -> list[str]:
    """JSON array form as is; shell form wrapped in ``/bin/sh -c`` as Docker does."""
    value = _json_list(rest)
    return value if value is not None else ["/bin/sh", "-c", rest]


def _json_or_words(rest: str) -> list[str]:
    value = _json_list(rest)
    return value if value is not None else rest.split()


def _pairs(rest: str, word: str, *, legacy: bool) -> list[tuple[str, str]]:
    """``k=v k2="v 2"``, or the legacy one-pair ``k v...`` form of ENV and LABEL."""
    try:
        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise InvalidInput(f"{word}: {e}") from None
    if legacy and words and "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidInput(f"{word} names must have a value: {rest!r}")
        return [(key, value.strip())]
    pairs = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise InvalidInput(f"{word}: expected KEY=VALUE, got {w!r}")
        pairs.append((key, value))
    return pairs


def _expand(text: str, config: dict) -> str:
    """``$VAR`` and ``${VAR}`` from the ENV set so far, as Docker expands change lines."""
    env = dict(e.partition("=")[::2] for e in config.get("Env") or [])
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] == "$":
            out.append("$")
            i += 2
        elif c == "$" and i + 1 < len(text) and text[i + 1] == "{":
            end = text.find("}", i)
            if end == -1:
                raise InvalidInput(f"missing '}}' in {text!r}")
            out.append(env.get(text[i + 2:end], ""))
            i = end + 1
        elif c == "$" and i + 1 < len(text) and (text[i + 1].isalnum() or text[i + 1] == "_"):
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(env.get(text[i + 1:j], ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _cmd(config: dict, rest: str, word: str) -> None:
    config["Cmd"] = _json_or_shell(rest, word)


def _entrypoint(config: dict, rest: str, word: str) -> None:
    config["Entrypoint"] = _json_or_shell(rest, word)


def _env(config: dict, rest: str, word: str) -> None:
    for key, value in _pairs(rest, word, legacy=True):
        value = _expand(value, config)
        env = [e for e in config.get("Env") or [] if e.partition("=")[0] != key]
        config["Env"] = env + [f"{key}={value}"]


def _label(config: dict, rest: str, word: str) -> None:
    labels = config.setdefault("Labels", {})
    for key, value in _pairs(rest, word, legacy=True):
        labels[_expand(key, config)] = _expand(value, config)


def _expose(config: dict, rest: str, word: str) -> None:
    ports = config.setdefault("ExposedPorts", {})
    for p in _expand(rest, config).split():
        port, _, proto = p.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidInput(f"invalid proto: {proto}")
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise InvalidInput(f"invalid containerPort: {port}")
        for n in range(int(lo), int(hi or lo) + 1):
            if not 0 < n < 65536:
                raise InvalidInput(f"invalid containerPort: {n}")
            ports[f"{n}/{proto}"] = {}


def _user(config: dict, rest: str, word: str) -> None:
    config["User"] = _expand(rest, config)


def _volume(config: dict, rest: str, word: str) -> None:
    vols = config.setdefault("Volumes", {})
    for v in _json_or_words(rest):
        v = _expand(v, config).strip()
        if not v:
            raise InvalidInput("VOLUME specified can not be an empty string")
        vols[v] = {}


def _workdir(config: dict, rest: str, word: str) -> None:
    path = _expand(rest, config)
    config["WorkingDir"] = posixpath.join(config.get("WorkingDir") or "/", path)


def _onbuild(config: dict, rest: str, word: str) -> None:
    inner = rest.split(None, 1)[0].upper()
    if inner in ("ONBUILD", "FROM", "MAINTAINER"):
        raise InvalidInput(f"{inner} isn't allowed as an ONBUILD trigger")
    config["OnBuild"] = list(config.get("OnBuild") or []) + [rest]


_APPLY = {"CMD": _cmd, "ENTRYPOINT": _entrypoint, "ENV": _env, "LABEL": _label,
          "EXPOSE": _expose, "USER": _user, "VOLUME": _volume, "WORKDIR": _workdir,
          "ONBUILD": _onbuild}
