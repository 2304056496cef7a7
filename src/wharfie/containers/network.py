"""Docker's default network without a daemon: the container gets its own network namespace
and slirp4netns gives it outbound access (user-mode NAT, 10.0.2.0/24, DNS at 10.0.2.3)
and publishes ``-p HOST:CONTAINER[/udp]`` through its API socket. Nothing on the host
changes: no bridge, no iptables, no interface (``docker0`` is never touched).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import InvalidInput, WharfieError


@dataclass(frozen=True)
class PortBinding:
    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"


def host_address() -> str:
    """The host's address as a container on the default network reaches it (``--add-host
    NAME:host-gateway``): slirp4netns keeps the host's loopback out of reach, so this is
    the address the host's default route leaves from, as podman's host.containers.internal.
    No packet is sent: connecting a UDP socket only picks the route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
            return s.getsockname()[0]
        except OSError:
            raise InvalidInput("host-gateway: the host has no routed address for a "
                               "container to reach; use --network host") from None


def parse_publish(spec: str) -> list[PortBinding]:
    """``-p [IP:][HOST:]CONTAINER[-END][/PROTO]`` as docker reads it; an empty HOST picks a port."""
    spec, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidInput(f"invalid proto: {proto}")
    parts = spec.rsplit(":", 2)
    ip, host = "", ""
    if len(parts) == 3:
        ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    else:
        ctr = parts[0]
    ip = ip.strip("[]")
    try:
        ctr_ports = _range(ctr)
        host_ports = _range(host) if host else [0] * len(ctr_ports)
    except ValueError:
        raise InvalidInput(f"invalid port specification: \"{spec}\"") from None
    if len(host_ports) != len(ctr_ports):
        raise InvalidInput(f"invalid ranges specified for container and host Ports: {spec}")
    return [PortBinding(ip, h, c, proto) for h, c in zip(host_ports, ctr_ports, strict=True)]


def parse_expose(spec: str) -> list[str]:
    """``--expose PORT[-END][/PROTO]`` as docker reads it: ExposedPorts' keys (``80/tcp``)."""
    port, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if ":" in spec:
        raise InvalidInput(f"invalid port format for --expose: {spec}")
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidInput(f"invalid proto: {proto}")
    try:
        return [f"{p}/{proto}" for p in _range(port)]
    except ValueError:
        raise InvalidInput(f"invalid range format for --expose: {spec}") from None


def _range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    first, last = int(lo), int(hi or lo)
    if not (0 < first <= last <= 65535):
        raise ValueError(text)
    return list(range(first, last + 1))


def free_port(proto: str) -> int:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class Slirp:
    """slirp4netns attached to process ``pid``'s network namespace; it exits with us."""

    def __init__(self, pid: int, api: Path) -> None:
        exe = shutil.which("slirp4netns")
        if exe is None:
            raise WharfieError("the default network needs slirp4netns "
                               "(apt-get install slirp4netns), or use --network host|none")
        self.api = api
        api.unlink(missing_ok=True)
        ready_r, ready_w = os.pipe()
        self._exit_r, self._exit_w = os.pipe()
        os.set_inheritable(self._exit_w, False)
        self.proc = subprocess.Popen(
            [exe, "--configure", "--mtu=65520", "--disable-host-loopback",
             f"--ready-fd={ready_w}", f"--exit-fd={self._exit_r}", f"--api-socket={api}",
             str(pid), "tap0"],
            pass_fds=(ready_w, self._exit_r), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(ready_w)
        os.close(self._exit_r)
        with os.fdopen(ready_r, "rb") as ready:
            if ready.read(1) != b"1":
                err = self.proc.communicate()[1].decode(errors="replace").strip()
                raise WharfieError(f"slirp4netns failed: {err}")

    def forward(self, b: PortBinding) -> None:
        request = {"execute": "add_hostfwd", "arguments": {
            "proto": b.proto, "host_addr": b.host_ip or "0.0.0.0", "host_port": b.host_port,
            "guest_port": b.container_port}}
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.api))
            s.sendall(json.dumps(request).encode())
            s.shutdown(socket.SHUT_WR)
            reply = json.loads(s.makefile("rb").read() or b"{}")
        if "error" in reply:
            raise WharfieError(f"Bind for {b.host_ip or '0.0.0.0'}:{b.host_port} failed: "
                               f"{reply['error'].get('desc', reply['error'])}")

    def close(self) -> None:
        try:
            os.close(self._exit_w)  # slirp4netns exits when this closes
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.api.unlink(missing_ok=True)
