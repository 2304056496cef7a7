"""``docker image inspect`` and ``docker history``, computed from a stored image.

Field names, order and defaults follow the Docker Engine API's ImageInspect, so
scripts written against ``docker inspect`` read ours unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wharfie.images.imagestore import StoredImage, parse_time

GO_ZERO_TIME = "0001-01-01T00:00:00Z"

# Docker's container config, in its field order, with the value it shows when unset.
_CONFIG_FIELDS: list[tuple[str, Any, bool]] = [  # (name, default, omitempty)
    ("Hostname", "", False), ("Domainname", "", False), ("User", "", False),
    ("AttachStdin", False, False), ("AttachStdout", False, False),
    ("AttachStderr", False, False), ("ExposedPorts", None, True), ("Tty", False, False),
    ("OpenStdin", False, False), ("StdinOnce", False, False), ("Env", None, False),
    ("Cmd", None, False), ("Healthcheck", None, True), ("ArgsEscaped", False, True),
    ("Image", "", False), ("Volumes", None, False), ("WorkingDir", "", False),
    ("Entrypoint", None, False), ("OnBuild", None, False), ("Labels", None, False),
    ("StopSignal", "", True), ("StopTimeout", None, True), ("Shell", None, True),
]


def docker_config(config: dict) -> dict:
    """An image config's ``config`` object as Docker shows it (every field, its defaults)."""
    out: dict[str, Any] = {}
    for name, default, omitempty in _CONFIG_FIELDS:
        value = config.get(name, default)
        if omitempty and (value is None or value == default):
            continue
        out[name] = value
    return out


def rfc3339(ts: float | None) -> str:
    if not ts:
        return GO_ZERO_TIME
    dt = datetime.fromtimestamp(ts, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def inspect_image(img: StoredImage, graph_root: str | None = None) -> dict:
    """The ImageInspect object for ``img``."""
    doc = img.config.doc
    out: dict[str, Any] = {
        "Id": str(img.id),
        "RepoTags": [r.familiar() for r in img.repo_tags],
        "RepoDigests": [r.familiar() for r in img.repo_digests],
        "Parent": doc.get("parent", "") or "",
        "Comment": doc.get("comment", "") or "",
        "Created": img.created or "",
        "DockerVersion": doc.get("docker_version", "") or "",
        "Author": doc.get("author", "") or "",
        "Config": docker_config(doc.get("config") or {}),
        "Architecture": doc.get("architecture", ""),
    }
    if doc.get("variant"):
        out["Variant"] = doc["variant"]
    out["Os"] = doc.get("os", "")
    if doc.get("os.version"):
        out["OsVersion"] = doc["os.version"]
    out.update({
        "Size": img.size,
        "CompressedSize": img.compressed_size,
        "GraphDriver": {"Data": {"Root": graph_root} if graph_root else None,
                        "Name": "oci-layout"},
        "RootFS": {"Type": (doc.get("rootfs") or {}).get("type", "layers"),
                   "Layers": [str(d) for d in img.config.diff_ids]},
        "Metadata": {"LastTagTime": rfc3339(img.last_tag_time)},
        "Descriptor": {"mediaType": img.media_type, "digest": str(img.manifest_digest),
                       "size": len(img.manifest.raw)},
    })
    return out


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``docker history``: newest first; only the top row has an ID."""

    id: str  # the image ID, or "<missing>"
    created: float | None
    created_by: str
    size: int
    comment: str


def history(img: StoredImage, layer_sizes: list[int]) -> list[HistoryEntry]:
    """The image's build history, newest first, with each layer's size on its step.

    ``layer_sizes`` are the layers' content sizes (``ImageStore.layer_sizes``), as Docker
    shows them: an ``empty_layer`` step, or a layer of directories only, is 0 bytes.
    """
    layers = layer_sizes
    entries = img.config.history
    if not entries:  # no history recorded: one anonymous step per layer
        entries = [{"created": img.created} for _ in layers] or [{"created": img.created}]
    rows = []
    li = 0
    for h in entries:
        size = 0
        if not h.get("empty_layer") and li < len(layers):
            size = layers[li]
            li += 1
        rows.append((parse_time(h.get("created")), h.get("created_by", "") or "", size,
                     h.get("comment", "") or ""))
    rows.reverse()
    return [HistoryEntry(str(img.id) if i == 0 else "<missing>", c, by, n, com)
            for i, (c, by, n, com) in enumerate(rows)]
