"""Response bodies read to a cap, never to the end of whatever a server chooses to send.

A registry (or a host it redirects to) can answer with an endless body; every body the
client keeps in memory (``/v2/``, errors, tokens, tag lists) is read to at most a cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wharfie.transports.registry.http import Headers, Response

BODY_MAX = 1 << 20  # /v2/, error bodies, token answers: as containerd, a small cap


@dataclass(frozen=True)
class Reply:
    """A finished response: its status, headers and (at most ``limit`` bytes of) body."""

    status: int
    reason: str
    headers: Headers
    data: bytes
    complete: bool  # False: the body was longer than the cap, and was cut


def read_reply(resp: Response, limit: int = BODY_MAX) -> Reply:
    """Read at most ``limit`` bytes of ``resp``'s body and give its connection back; one
    not read to its end is closed instead, so no later request sees the rest. A dropped
    connection raises ``http.HTTPError``, as the request itself would."""
    try:
        data = resp.read(limit + 1)
    finally:
        resp.release()  # closed instead when the body goes on past the cap
    return Reply(resp.status, resp.reason or "", resp.headers, data[:limit], len(data) <= limit)
