"""Image timestamps: RFC 3339 in UTC, and SOURCE_DATE_EPOCH (reproducible-builds.org)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from wharfie.errors import InvalidInput


def rfc3339(ts: float) -> str:
    """``2023-11-14T22:13:20Z``, with microseconds only when there are some, as Go writes
    times into image configs."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def source_date_epoch(value: str | None = None) -> int | None:
    """SOURCE_DATE_EPOCH: ``value`` if given, else the environment's; None if unset or empty.

    >>> source_date_epoch("1700000000")
    1700000000
    """
    if value is None:
        value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"invalid SOURCE_DATE_EPOCH {value!r}: want seconds since 1970")
    return int(value)


def created(epoch: int | None) -> str:
    """The creation time of something made now: ``epoch`` when set, else the clock."""
    import time

    return rfc3339(time.time() if epoch is None else epoch)
