"""``run --device HOST[:CONTAINER[:PERMS]]``: host device nodes given to a container as
docker gives them. HostConfig.Devices keeps the mapping; at each start the host node's
type, numbers and mode are read again (it may have changed) and become an OCI
``linux.devices`` entry, which runc creates inside the container, plus a device cgroup
rule with the permissions. The host's node is only read, never made, changed or removed.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat

from wharfie.errors import InvalidInput


def _valid_mode(mode: str) -> bool:
    """docker's validDeviceMode: some of r, w, m, each at most once."""
    return bool(mode) and len(set(mode)) == len(mode) and set(mode) <= set("rwm")


def parse_device(spec: str) -> dict:
    """docker's parseLinuxDevice and validateLinuxPath: HostConfig.Devices' entry."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid argument \"{spec}\" for \"--device\" flag: {why}")

    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise bad(f"bad format for path: {spec}")
    src, dst, perms = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _valid_mode(parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    elif len(parts) == 3:
        dst, perms = parts[1], parts[2]
        if not _valid_mode(perms):
            raise bad(f"bad mode specified: {perms}")
    if not posixpath.isabs(dst):
        raise bad(f"{dst} is not an absolute path")
    return {"PathOnHost": src, "PathInContainer": posixpath.normpath(dst),
            "CgroupPermissions": perms}


def _node(path: str, dest: str) -> dict | None:
    """The OCI device for the host node at ``path``; None if it is not a device node."""
    st = os.stat(path)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return None
    return {"path": dest, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _nodes_under(top: str, dest: str) -> list[dict]:
    """The device nodes in the tree at ``top`` (what cannot be read is skipped, as docker's
    walk skips what is not a device), placed under ``dest``."""
    found = []
    for here, _, files in os.walk(top):
        for name in sorted(files):
            path = os.path.join(here, name)
            with contextlib.suppress(OSError):
                if node := _node(path, posixpath.join(dest, os.path.relpath(path, top))):
                    found.append(node)
    return found


def oci_devices(mapping: dict) -> list[dict]:
    """The OCI devices of one HostConfig.Devices entry: the node, or as docker does for a
    directory, every device node under it (at the same place under PathInContainer)."""
    src, dest = mapping["PathOnHost"], mapping["PathInContainer"]
    why = "not a device node"
    try:
        if os.path.isdir(src):
            if found := _nodes_under(src, dest):
                return found
        elif (node := _node(src, dest)) is not None:
            return [node]
    except OSError as e:
        why = e.strerror or str(e)
    raise InvalidInput(f"error gathering device information while adding custom device "
                       f"\"{src}\": {why}")


def cgroup_rule(device: dict, perms: str) -> dict:
    """The device cgroup rule that lets the container use ``device`` with ``perms``."""
    return {"allow": True, "type": device["type"], "major": device["major"],
            "minor": device["minor"], "access": perms}


def spec_devices(mappings: list[dict]) -> tuple[list[dict], list[dict]]:
    """``linux.devices`` and their ``linux.resources.devices`` rules for HostConfig.Devices."""
    nodes, rules = [], []
    for m in mappings:
        for node in oci_devices(m):
            nodes.append(node)
            rules.append(cgroup_rule(node, m["CgroupPermissions"]))
    return nodes, rules
