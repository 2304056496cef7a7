"""The distribution an image is built on, from ``os-release`` (freedesktop's format)."""

from __future__ import annotations

import shlex

from wharfie.security.sbom.model import Distro

# etc/os-release is usually a symlink to usr/lib/os-release: read whichever is a file.
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")


def parse_os_release(data: bytes) -> Distro | None:
    """``ID=debian`` / ``VERSION_ID="12"`` -> Distro('debian', '12'); None without an ID."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        try:
            words = shlex.split(value, comments=False)
        except ValueError:
            words = [value.strip().strip("\"'")]
        fields[key.strip()] = words[0] if words else ""
    if not fields.get("ID"):
        return None
    return Distro(fields["ID"], fields.get("VERSION_ID", ""), fields.get("PRETTY_NAME", ""))
