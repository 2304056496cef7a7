"""Version order per ecosystem: dpkg (epochs, ``~``), apk, rpm (rpmvercmp), PEP 440,
semver, Maven and RubyGems.

``compare(ecosystem, a, b)`` is negative, zero or positive as ``a`` sorts before, with or
after ``b``. Unknown ecosystems are refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import zip_longest


def _dpkg_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit runs (letters before others, ``~`` before
    everything, even the end) and digit runs compared as numbers."""
    def order(c: str) -> int:
        if c == "~":
            return -1
        if c.isalpha():
            return ord(c)
        return ord(c) + 256

    i = j = 0
    while i < len(a) or j < len(b):
        diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        m = re.match(r"\d*", a[i:]).group()
        n = re.match(r"\d*", b[j:]).group()
        diff = int(m or 0) - int(n or 0)
        if diff:
            return diff
        i, j = i + len(m), j + len(n)
    return 0


def _dpkg_split(v: str) -> tuple[int, str, str]:
    epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return int(epoch or 0), upstream, revision


def compare_dpkg(a: str, b: str) -> int:
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    return (ea - eb) or _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


_PEP440 = re.compile(
    r"v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?"
    r"(?:-(\d+)|[-_.]?(?:post|rev|r)[-_.]?(\d*))?(?:[-_.]?dev[-_.]?(\d*))?(?:\+.*)?", re.I)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def _pep440_key(v: str) -> tuple:
    m = _PEP440.fullmatch(v.strip())
    if not m:
        raise ValueError(f"not a PEP 440 version: {v!r}")
    epoch, release, pre_l, pre_n, post_a, post_b, dev = m.groups()
    rel = tuple(int(x) for x in release.split("."))
    while len(rel) > 1 and rel[-1] == 0:
        rel = rel[:-1]
    post = post_a or post_b
    has_post = post_a is not None or post_b is not None
    # order within a release: dev < pre < final < post (PEP 440)
    if pre_l:
        pre = (1, _PRE[pre_l.lower()], int(pre_n or 0))
    elif dev is not None and not has_post:
        pre = (0, 0, 0)
    else:
        pre = (2, 0, 0)
    post_key = (1, int(post or 0)) if has_post else (0, 0)
    dev_key = (0, int(dev or 0)) if dev is not None else (1, 0)
    return (int(epoch or 0), rel, pre, post_key, dev_key)


def compare_pep440(a: str, b: str) -> int:
    ka, kb = _pep440_key(a), _pep440_key(b)
    return (ka > kb) - (ka < kb)


_SEMVER = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+.*)?")


def compare_semver(a: str, b: str) -> int:
    """semver 2.0: numbers, then a pre-release sorts before its release, identifiers
    compared numerically when numeric."""
    ma, mb = _SEMVER.fullmatch(a.strip()), _SEMVER.fullmatch(b.strip())
    if not ma or not mb:
        raise ValueError(f"not a semantic version: {a if not ma else b!r}")
    na = [int(x or 0) for x in ma.groups()[:3]]
    nb = [int(x or 0) for x in mb.groups()[:3]]
    if na != nb:
        return (na > nb) - (na < nb)
    pa, pb = ma.group(4), mb.group(4)
    if pa is None or pb is None:
        return (pa is None) - (pb is None)
    for x, y in zip_longest(pa.split("."), pb.split(".")):
        if x is None or y is None:
            return -1 if x is None else 1
        kx = (0, int(x), "") if x.isdigit() else (1, 0, x)
        ky = (0, int(y), "") if y.isdigit() else (1, 0, y)
        if kx != ky:
            return (kx > ky) - (kx < ky)
    return 0


_APK = re.compile(r"(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)"
                  r"(?:~[0-9a-f]+)?(?:-r(\d+))?")
_APK_SUFFIX = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
               "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}


def _apk_key(v: str) -> tuple:
    m = _APK.fullmatch(v.strip())
    if not m:
        raise ValueError(f"not an apk version: {v!r}")
    numbers, letter, suffixes, revision = m.groups()
    suffix = [(_APK_SUFFIX[name], int(n or 0))
              for name, n in re.findall(r"_([a-z]+)(\d*)", suffixes)]
    return [int(x) for x in numbers.split(".")], letter, suffix, int(revision or 0)


def compare_apk(a: str, b: str) -> int:
    """apk-tools' order: numbers (1.2 < 1.2.0), a letter, suffixes (``_alpha`` .. ``_rc``
    before the release, ``_cvs`` .. ``_p`` after it), then ``-rN``."""
    na, la, sa, ra = _apk_key(a)
    nb, lb, sb, rb = _apk_key(b)
    width = max(len(sa), len(sb))
    sa, sb = sa + [(0, 0)] * (width - len(sa)), sb + [(0, 0)] * (width - len(sb))
    ka, kb = (na, la, sa, ra), (nb, lb, sb, rb)
    return (ka > kb) - (ka < kb)


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment comparison: alphanumeric runs, numbers above letters, ``~`` before
    anything (even the end), ``^`` after the end but before any other segment."""
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        ca, cb = a[i:i + 1], b[j:j + 1]
        if "~" in (ca, cb):
            if ca != cb:
                return -1 if ca == "~" else 1
            i, j = i + 1, j + 1
            continue
        if "^" in (ca, cb):
            if ca != cb:
                return -1 if not ca else 1 if not cb else 1 if cb == "^" else -1
            i, j = i + 1, j + 1
            continue
        if not ca or not cb:
            break
        run = r"\d+" if ca.isdigit() else r"[A-Za-z]+"
        one = re.match(run, a[i:]).group()
        two = (re.match(run, b[j:]) or re.match("", "")).group()
        if not two:  # a number against letters: the number is newer
            return 1 if ca.isdigit() else -1
        i, j = i + len(one), j + len(two)
        if ca.isdigit():
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return -1 if len(one) < len(two) else 1
        if one != two:
            return -1 if one < two else 1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_split(v: str) -> tuple[int, str, str]:
    epoch, _, rest = v.partition(":") if ":" in v else ("0", "", v)
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), version, release


def compare_rpm(a: str, b: str) -> int:
    """``[epoch:]version[-release]``: epochs as numbers, then rpmvercmp on each part (a
    release missing on one side is not compared, as rpm does for dependency ranges)."""
    ea, va, ra = _rpm_split(a)
    eb, vb, rb = _rpm_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return rpmvercmp(va, vb) or (rpmvercmp(ra, rb) if ra and rb else 0)


_MAVEN_QUALIFIERS = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "milestone": 2, "m": 2,
                     "rc": 3, "cr": 3, "snapshot": 4, "": 5, "ga": 5, "final": 5,
                     "release": 5, "sp": 6}


def _maven_item(token: str | None, other: str | None) -> tuple:
    """One item of Maven's ComparableVersion: a missing item is 0 against a number and
    the release qualifier against a word; numbers sort after every qualifier, unknown
    qualifiers after ``sp``."""
    if token is None:
        token = "0" if other is not None and other.isdigit() else ""
    if token.isdigit():
        return (2, int(token), "")
    rank = _MAVEN_QUALIFIERS.get(token)
    return (1, rank, "") if rank is not None else (1, 7, token)


def _maven_tokens(v: str) -> list[str]:
    tokens = re.findall(r"\d+|[a-z]+", v.lower())
    while tokens and (tokens[-1] in ("0", "ga", "final", "release", "")):
        tokens.pop()  # 1.0 == 1 == 1-ga
    return tokens


def compare_maven(a: str, b: str) -> int:
    """Maven's order (ComparableVersion, flattened): numbers as numbers, ``alpha`` <
    ``beta`` < ``milestone`` < ``rc`` < ``snapshot`` < release < ``sp``, trailing zeros and
    release qualifiers dropped."""
    for x, y in zip_longest(_maven_tokens(a), _maven_tokens(b)):
        kx, ky = _maven_item(x, y), _maven_item(y, x)
        if kx != ky:
            return (kx > ky) - (kx < ky)
    return 0


def _gem_segments(v: str) -> list[int | str]:
    segments: list[int | str] = [int(s) if s.isdigit() else s
                                 for s in re.findall(r"\d+|[a-z]+", v.lower())]
    while segments and segments[-1] == 0:
        segments.pop()
    return segments


def compare_rubygems(a: str, b: str) -> int:
    """Gem::Version: numeric segments as numbers, a letter segment marks a pre-release
    (``1.0.a`` < ``1.0``), trailing zeros ignored."""
    for x, y in zip_longest(_gem_segments(a), _gem_segments(b), fillvalue=0):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int) or isinstance(x, str) and \
                isinstance(y, str):
            return -1 if x < y else 1  # type: ignore[operator]
        return 1 if isinstance(x, int) else -1
    return 0


COMPARATORS: dict[str, Callable[[str, str], int]] = {
    "Debian": compare_dpkg, "Ubuntu": compare_dpkg, "PyPI": compare_pep440,
    "npm": compare_semver, "Go": compare_semver, "crates.io": compare_semver,
    "Alpine": compare_apk, "Red Hat": compare_rpm, "AlmaLinux": compare_rpm,
    "Rocky Linux": compare_rpm, "openSUSE": compare_rpm, "SUSE": compare_rpm,
    "Maven": compare_maven, "RubyGems": compare_rubygems,
}


def comparator(ecosystem: str) -> Callable[[str, str], int]:
    """The order for an OSV ecosystem name (``Debian:12`` uses Debian's)."""
    base = ecosystem.split(":", 1)[0]
    if base not in COMPARATORS:
        raise ValueError(f"no version order for ecosystem {ecosystem!r}")
    return COMPARATORS[base]
