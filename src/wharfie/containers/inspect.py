"""Docker's views of containers: the ``inspect`` document, ``ps`` filters and the PORTS
column."""

from __future__ import annotations

from pathlib import Path

from wharfie.containers.bundle import SLIRP_GUEST_IP
from wharfie.containers.logs import log_file, rfc3339
from wharfie.containers.store import Container, ContainerStore
from wharfie.errors import InvalidInput

ZERO_TIME = "0001-01-01T00:00:00Z"
PS_FILTERS = ("status", "name", "ancestor", "label", "exited", "id")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def _stamp(ts: float | None) -> str:
    return rfc3339(int(ts * 1e9)) if ts else ZERO_TIME


def document(root: Path, c: Container) -> dict:
    """``docker container inspect``'s object."""
    st, status = c.state, c.status
    hc = {k: v for k, v in c.host_config.items() if not k.startswith("Wharfie")}
    network = hc.get("NetworkMode", "default")
    ports = {k: [{"HostIp": b.get("HostIp") or "0.0.0.0", "HostPort": b["HostPort"]}
                 for b in v] for k, v in (hc.get("PortBindings") or {}).items()}
    return {
        "Id": c.id, "Created": _stamp(c.created), "Path": c.command[0], "Args": c.command[1:],
        "State": {
            "Status": status, "Running": status in ("running", "paused"),
            "Paused": status == "paused", "Restarting": status == "restarting",
            "OOMKilled": False, "Dead": False, "Pid": st.pid if c.running else 0,
            "ExitCode": c.exit_code, "Error": st.error,
            "StartedAt": _stamp(st.started_at), "FinishedAt": _stamp(st.finished_at)},
        "Image": f"sha256:{c.image_id.removeprefix('sha256:')}",
        "ResolvConfPath": str(ContainerStore(root).home(c.id) / "resolv.conf"),
        "HostnamePath": str(ContainerStore(root).home(c.id) / "hostname"),
        "HostsPath": str(ContainerStore(root).home(c.id) / "hosts"),
        "LogPath": str(log_file(ContainerStore(root).home(c.id), c.id, hc) or ""),
        "Name": f"/{c.name}", "RestartCount": st.restart_count, "Driver": "overlay2",
        "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}, **hc,
                       "NetworkMode": "bridge" if network == "default" else network},
        "Mounts": [{"Type": m["Type"], **({"Name": m["Name"]} if m.get("Name") else {}),
                    "Source": m["Source"], "Destination": m["Target"],
                    "Driver": "local" if m["Type"] == "volume" else "", "Mode": "",
                    "RW": m.get("RW", True), "Propagation": "rprivate" if m["Type"] == "bind"
                    else ""}
                   for m in c.host_config.get("WharfieMounts") or [] if m["Type"] != "tmpfs"],
        "Config": {**c.config, "Hostname": c.config.get("Hostname") or c.id[:12]},
        "NetworkSettings": {
            "Ports": ports if network == "default" else {},
            "IPAddress": SLIRP_GUEST_IP if network == "default" and c.running else "",
            "Gateway": "10.0.2.2" if network == "default" and c.running else "",
            "Networks": {"bridge" if network == "default" else network: {
                "IPAddress": SLIRP_GUEST_IP if network == "default" and c.running else ""}},
        },
    }


def ports_text(c: Container) -> str:
    out = []
    for key, bindings in (c.host_config.get("PortBindings") or {}).items():
        for b in bindings:
            out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}->{key}")
    return ", ".join(out)


def matches(c: Container, filters: dict[str, list[str]]) -> bool:
    """docker ps --filter: different keys must all match, values of one key any of them."""
    for key, values in filters.items():
        if key not in PS_FILTERS:
            raise InvalidInput(f"invalid filter '{key}'")
        if not any(_match(c, key, v) for v in values):
            return False
    return True


def _match(c: Container, key: str, value: str) -> bool:
    import re

    if key == "status":
        if value not in STATUSES:
            raise InvalidInput(f"invalid filter 'status={value}'")
        return c.status == value
    if key == "name":
        return re.search(value, c.name) is not None
    if key == "id":
        return c.id.startswith(value)
    if key == "exited":
        return c.status == "exited" and str(c.exit_code) == value
    if key == "label":
        k, eq, v = value.partition("=")
        labels = c.config.get("Labels") or {}
        return k in labels and (not eq or labels[k] == v)
    if key == "ancestor":
        return value in (c.image, c.image_id) or c.image_id.removeprefix(
            "sha256:").startswith(value.removeprefix("sha256:")) or \
            c.image == f"{value}:latest"
    return False
