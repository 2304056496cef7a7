"""Let a daemon in a network namespace of its own reach servers on the host's loopback.

A test daemon (dockerd) runs in its own network namespace so that it can never touch the
host's interfaces, routes or firewall. The registries the tests start listen on the host's
127.0.0.1, though, and dockerd must pull from and push to them. Inside the namespace an
iptables rule redirects every TCP connection to 127.0.0.0/8 to one relay port; the relay,
a thread of the test process, accepts there and connects to the same port on the host's
127.0.0.1. A socket belongs to the namespace it was made in, so one process can listen in
the daemon's namespace and connect in the host's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import threading

RELAY_PORT = 9  # in the daemon's private namespace, where every port is free
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h: the destination before a REDIRECT
CLONE_NEWNET = 0x40000000

# Run by `sh -c` inside the new namespace before it execs the daemon ("$@").
NETNS_SETUP = (
    "ip link set lo up && "
    "iptables -t nat -A OUTPUT -p tcp -d 127.0.0.0/8 "
    f"! --dport {RELAY_PORT} -j REDIRECT --to-ports {RELAY_PORT} && "
    'exec "$@"')


def netns_command(argv: list[str]) -> list[str]:
    """``argv`` run in new network and mount namespaces, loopback up and relayed to the host."""
    return ["unshare", "--net", "--mount", "--propagation", "private",
            "sh", "-c", NETNS_SETUP, "sh", *argv]


def _listener_in_netns_of(pid: int) -> socket.socket:
    """A socket listening on RELAY_PORT in the network namespace of process ``pid``.

    It is made on a thread of its own, because setns moves only the calling thread, and that
    thread ends with the namespace it entered.
    """
    made: dict[str, object] = {}

    def make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                made["error"] = OSError(err, f"setns into the netns of {pid}: {os.strerror(err)}")
                return
        finally:
            os.close(fd)
        sock = socket.socket()
        sock.bind(("127.0.0.1", RELAY_PORT))
        sock.listen(64)
        made["sock"] = sock

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]  # type: ignore[misc]
    return made["sock"]  # type: ignore[return-value]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends; a reset by either peer ends it too."""
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _relay_one(conn: socket.socket) -> None:
    dst = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack_from("!H", dst, 2)[0]
    try:
        upstream = socket.create_connection(("127.0.0.1", port))
    except OSError:
        conn.close()  # the daemon sees "connection refused" as it would on the host
        return
    with conn, upstream:
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()


@contextlib.contextmanager
def loopback_relay(pid: int):
    """Relay TCP to 127.0.0.0/8 from the namespace of ``pid`` (made by netns_command)."""
    listener = _listener_in_netns_of(pid)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was shut down
            threading.Thread(target=_relay_one, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        listener.close()
        server.join(5)
