"""``--chmod`` values: octal (``0755``) or symbolic (``u+x,go-w``) as chmod(1) reads them."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass

from wharfie.errors import WharfieError

_CLAUSE = re.compile(r"^([ugoa]*)([+=-])([rwxXst]*)$")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}


@dataclass(frozen=True)
class ModeSpec:
    """``--chmod``: octal or symbolic (``u+x,go-w``), checked when made."""

    text: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-7]{1,4}", self.text):
            for clause in self.text.split(","):
                if not _CLAUSE.match(clause):
                    raise WharfieError(f"invalid chmod {self.text!r}")

    def apply(self, mode: int) -> int:
        """The new permission bits for a file whose current mode is ``mode``."""
        if re.fullmatch(r"[0-7]{1,4}", self.text):
            return int(self.text, 8)
        perm = stat.S_IMODE(mode)
        is_dir = stat.S_ISDIR(mode)
        for clause in self.text.split(","):
            m = _CLAUSE.match(clause)
            assert m
            who, op, what = m.groups()
            if not who or "a" in who:
                who = "ugo"
            bits = 0
            for w in who:
                if "r" in what:
                    bits |= {"u": 0o400, "g": 0o040, "o": 0o004}[w]
                if "w" in what:
                    bits |= {"u": 0o200, "g": 0o020, "o": 0o002}[w]
                if "x" in what or ("X" in what and (is_dir or perm & 0o111)):
                    bits |= {"u": 0o100, "g": 0o010, "o": 0o001}[w]
                if "s" in what and w in "ug":
                    bits |= 0o4000 if w == "u" else 0o2000
                if "t" in what:
                    bits |= 0o1000
            if op == "+":
                perm |= bits
            elif op == "-":
                perm &= ~bits
            else:
                mask = 0
                for w in who:
                    mask |= _WHO[w]
                perm = (perm & ~mask) | bits
        return perm
