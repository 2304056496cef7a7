"""Transport names as skopeo spells them (``docker://REF``, ``oci:DIR[:TAG]``...), parsed
through the table of transports in ``kinds``."""

from __future__ import annotations

from wharfie.errors import InvalidReference
from wharfie.transports.kinds import KINDS
from wharfie.transports.kinds.common import TransportName

__all__ = ["TRANSPORTS", "TransportName", "parse_name"]

TRANSPORTS = tuple(KINDS)


def parse_name(text: str) -> TransportName:
    """Parse ``docker://busybox``, ``oci:/tmp/l:v1``, ``docker-archive:x.tar:app:1``..."""
    transport, sep, rest = text.partition(":")
    kind = KINDS.get(transport)
    if not sep or kind is None or not rest:
        usages = ", ".join(k.USAGE for k in KINDS.values())
        raise InvalidReference(f"invalid transport name {text!r}: want one of {usages}")
    return kind.parse(rest, text)
