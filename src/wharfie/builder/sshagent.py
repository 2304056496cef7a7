"""``RUN --mount=type=ssh``: the client's SSH agent, forwarded into a build step.

``--ssh default`` (``$SSH_AUTH_SOCK``) or ``--ssh ID=SOCKET`` names agents. A step sees
a socket of its own, owned by the mount's uid and gid, with its mode (BuildKit's
defaults are root and 0600). The socket relays each connection to the agent, so keys
never leave the agent and the agent's own socket is not exposed.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

from wharfie.errors import InvalidInput


def parse_ssh(spec: str) -> tuple[str, Path]:
    """``default``, ``default=SOCKET`` or ``ID=SOCKET``: the id and the agent's socket."""
    sid, eq, value = spec.partition("=")
    if not sid:
        raise InvalidInput(f"invalid --ssh {spec!r}: want default or ID=SOCKET")
    if not eq:
        agent = os.environ.get("SSH_AUTH_SOCK")
        if not agent:
            raise InvalidInput(f"--ssh {sid}: SSH_AUTH_SOCK is not set (start an agent, or "
                               "give --ssh ID=SOCKET)")
        value = agent
    path = Path(value.split(",")[0]).expanduser()
    try:
        is_socket = stat.S_ISSOCK(path.stat().st_mode)
    except OSError as e:
        raise InvalidInput(f"--ssh {sid}: cannot use {path}: {e.strerror}") from None
    if not is_socket:
        raise InvalidInput(f"--ssh {sid}: {path} is not an agent socket (wharfie forwards "
                           "SSH agents, not key files: ssh-add the key to an agent)")
    return sid, path


class AgentRelay:
    """A listening socket at ``path`` that relays every connection to ``agent``."""

    def __init__(self, path: Path, agent: Path, uid: int, gid: int, mode: int) -> None:
        self.agent = agent
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(str(self.agent))
            except OSError:
                client.close()  # the agent went away: the client sees a closed socket
                upstream.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def close(self) -> None:
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self._server.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass  # either side closed: the other is shut down below, as a relay must
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
