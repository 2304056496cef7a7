"""Docker's USER: ``user``, ``uid``, ``user:group``, ``uid:gid``, resolved in the image's files.

Follows moby/sys/user's GetExecUser: names must exist in /etc/passwd or /etc/group,
numbers need not (a bare unknown uid gets gid 0); supplementary groups come from
/etc/group only when no group was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import InvalidInput
from wharfie.fs.inroot import read_text
from wharfie.runtime.errors import ContainerError

MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ExecUser:
    """The user a process runs as, resolved in the root filesystem."""

    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _number(s: str) -> int | None:
    if not s.isdigit():
        return None
    n = int(s)
    if n > MAX_ID:
        raise InvalidInput(f"uids and gids must be in range 0-{MAX_ID}: {s}")
    return n


def _entries(text: str | None, fields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        rows.append(parts + [""] * (fields - len(parts)))
    return rows


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return 0


def resolve_user(rootfs: Path, spec: str, *, primary_in_groups: bool = True) -> ExecUser:
    """The uid, gid, groups and home a process started as ``spec`` gets in ``rootfs``.
    ``docker run`` adds the primary gid to the groups; BuildKit's RUN does not
    (``primary_in_groups=False``): there they come from /etc/group alone."""
    user_arg, _, group_arg = (spec or "").partition(":")
    user_arg = user_arg or "0"
    uid_arg = _number(user_arg)

    passwd = _entries(read_text(rootfs, "/etc/passwd"), 7)
    match = next((p for p in passwd
                  if p[0] == user_arg or (uid_arg is not None and _int(p[2]) == uid_arg)), None)
    if match is not None:
        name, uid, gid, home = match[0], _int(match[2]), _int(match[3]), match[5] or "/"
    elif uid_arg is not None:
        name, uid, gid, home = None, uid_arg, 0, "/"
    else:
        raise ContainerError(
            f"unable to find user {user_arg}: no matching entries in passwd file")

    groups = _entries(read_text(rootfs, "/etc/group"), 4)
    sgids: list[int] = []
    if group_arg:
        gid_arg = _number(group_arg)
        found = next((g for g in groups
                      if g[0] == group_arg or (gid_arg is not None and _int(g[2]) == gid_arg)),
                     None)
        if found is not None:
            gid = _int(found[2])
        elif gid_arg is not None:
            gid = gid_arg
        else:
            raise ContainerError(
                f"unable to find group {group_arg}: no matching entries in group file")
    elif name is not None:
        sgids = [_int(g[2]) for g in groups if name in g[3].split(",")]

    extra = ([gid] if primary_in_groups else []) + sgids
    return ExecUser(uid=uid, gid=gid, additional_gids=list(dict.fromkeys(extra)), home=home)
