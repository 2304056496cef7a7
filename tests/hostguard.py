"""A snapshot of the host state the tests must leave as they found it, and its comparison.

Tests run as root: a test (or a daemon it starts) that deletes an interface, adds a route,
leaves a mount or replaces /dev/null breaks the machine, not just the test. conftest takes a
snapshot before the session and fails the run if the one after differs.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

DEV_NULL_OK = "character device 1,3"
# Address and route lifetimes count down; they are not a change.
_LIFETIMES = re.compile(r"\s+(valid_lft|preferred_lft|expires)\s+\S+")
# A pytest session's temp dir: /tmp/pytest-of-USER/pytest-N.
_PYTEST_SESSION = re.compile(r"^(?P<dir>.*/pytest-of-[^/]+/pytest-\d+)(/|$)")


def _ip(*args: str) -> list[str]:
    out = subprocess.run(["ip", "-o", *args], capture_output=True, text=True, check=True).stdout
    return sorted(_LIFETIMES.sub("", line).rstrip(" \\") for line in out.splitlines())


def _dev_null() -> str:
    st = os.lstat("/dev/null")
    if stat.S_ISCHR(st.st_mode):
        return f"character device {os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
    return f"not a character device (mode {stat.filemode(st.st_mode)})"


def _mount_points() -> list[str]:
    """Mount points of this mount namespace (field 5 of mountinfo, octal escapes kept)."""
    return sorted(line.split()[4] for line in
                  Path("/proc/self/mountinfo").read_text().splitlines())


def host_snapshot() -> dict[str, list[str]]:
    """Interfaces, addresses, routes (every table), /dev/null and mount points, now."""
    return {
        "interface": sorted(line.split(":")[1].strip() for line in _ip("link")),
        "address": _ip("addr"),
        "route": _ip("route", "show", "table", "all"),  # IPv4 and IPv6
        "/dev/null": [_dev_null()],
        "mount": _mount_points(),
    }


def temp_entries() -> frozenset[str]:
    """The names in the temp dir, taken before the run: see ``host_changes``."""
    return frozenset(os.listdir(tempfile.gettempdir()))


def _someone_elses(mount: str, own_session: Path | None, temp_before: frozenset[str]) -> bool:
    """Whether ``mount`` belongs to someone working beside the test run: it lies in another
    pytest session's temp dir, or in a temp dir entry that was there before the run."""
    if m := _PYTEST_SESSION.match(mount):
        return own_session is None or Path(m["dir"]) != own_session
    rel = os.path.relpath(mount, tempfile.gettempdir())
    return not rel.startswith("..") and rel.split("/")[0] in temp_before


def host_changes(before: dict[str, list[str]], after: dict[str, list[str]],
                 own_session: Path | None = None,
                 temp_before: frozenset[str] = frozenset()) -> list[str]:
    """What differs, one line each (``- route: ...`` gone, ``+ mount: ...`` new), and a
    /dev/null that is not the null device. Mounts in another pytest session's temp dir than
    ``own_session``, or under a temp dir entry in ``temp_before``, belong to people and runs
    beside this one (a shared machine) and are left out."""
    changes = []
    for kind in before.keys() | after.keys():
        # Counted, not sets: a second mount on the same point is a change.
        old, new = Counter(before.get(kind, [])), Counter(after.get(kind, []))
        for sign, items in (("-", old - new), ("+", new - old)):
            changes += [f"{sign} {kind}: {item}" for item in sorted(items.elements())
                        if not (kind == "mount"
                                and _someone_elses(item, own_session, temp_before))]
    if after.get("/dev/null") != [DEV_NULL_OK]:
        changes.append(f"/dev/null is {after.get('/dev/null')}, not a {DEV_NULL_OK}")
    return sorted(changes)
