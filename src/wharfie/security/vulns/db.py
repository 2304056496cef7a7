"""The local vulnerability database: advisories imported from files the user names (OSV
records, Debian's security tracker JSON, Alpine secdb JSON), each row remembering its
source. Nothing ships with wharfie; ``wharfie db import`` fills ``ROOT/vulndb/vulns.db``."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wharfie.errors import InvalidInput, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, path TEXT, kind TEXT,
    imported REAL, records INTEGER);
CREATE TABLE IF NOT EXISTS affected (source INTEGER REFERENCES sources(id), vuln TEXT,
    ecosystem TEXT, package TEXT, introduced TEXT, fixed TEXT, last_affected TEXT,
    severity TEXT, summary TEXT);
CREATE INDEX IF NOT EXISTS affected_pkg ON affected (ecosystem, package);
CREATE TABLE IF NOT EXISTS aliases (source INTEGER REFERENCES sources(id), vuln TEXT,
    alias TEXT);
CREATE INDEX IF NOT EXISTS aliases_vuln ON aliases (vuln);
CREATE INDEX IF NOT EXISTS aliases_alias ON aliases (alias);
"""
# ``aliases`` came later: ``CREATE ... IF NOT EXISTS`` adds it to an older database when it is
# opened, and advisories imported before then simply have none.
# Debian's codenames, for the tracker JSON (which names releases, not versions).
DEBIAN_RELEASES = {"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13",
                   "forky": "14"}


@dataclass(frozen=True)
class Affected:
    """One package range of one advisory: affected from ``introduced`` (None: always) up to
    ``fixed`` (None: not fixed) or through ``last_affected``."""

    vuln: str
    ecosystem: str
    package: str
    introduced: str | None
    fixed: str | None
    last_affected: str | None
    severity: str
    summary: str


def db_path(root: Path) -> Path:
    return root / "vulndb" / "vulns.db"


def connect(root: Path, *, create: bool = False) -> sqlite3.Connection:
    """The database under ``root``, its schema brought up to date."""
    path = db_path(root)
    if not path.exists() and not create:
        raise NotFound(f"no vulnerability database in {root}: run `wharfie db import PATH`")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    return conn


def _osv_severity(rec: dict) -> str:
    sev = (rec.get("database_specific") or {}).get("severity")
    return str(sev).upper() if sev else "UNKNOWN"


def osv_rows(rec: dict) -> Iterator[Affected]:
    """The ranges of one OSV record (ECOSYSTEM and SEMVER ranges; GIT ranges need commits)."""
    if not isinstance(rec, dict) or "id" not in rec:
        raise InvalidInput("not an OSV record: no id")
    for aff in rec.get("affected") or []:
        pkg = aff.get("package") or {}
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not eco or not name:
            continue
        sev = ((aff.get("ecosystem_specific") or {}).get("urgency") or _osv_severity(rec))
        for rng in aff.get("ranges") or []:
            if rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            introduced = None
            for ev in rng.get("events") or []:
                if "introduced" in ev:
                    introduced = None if ev["introduced"] == "0" else ev["introduced"]
                elif "fixed" in ev or "last_affected" in ev:
                    yield Affected(rec["id"], eco, name, introduced, ev.get("fixed"),
                                   ev.get("last_affected"), str(sev).upper(),
                                   rec.get("summary", ""))
                    introduced = "<closed>"
            if introduced != "<closed>":
                yield Affected(rec["id"], eco, name, introduced, None, None, str(sev).upper(),
                               rec.get("summary", ""))


def debian_tracker_rows(doc: dict) -> Iterator[Affected]:
    """``{source-package: {CVE: {releases: {bookworm: {status, fixed_version, urgency}}}}}``;
    ``fixed_version`` 0 means never affected, ``open`` means no fix yet."""
    for package, cves in doc.items():
        for cve, info in (cves or {}).items():
            for release, rel in ((info or {}).get("releases") or {}).items():
                version = DEBIAN_RELEASES.get(release)
                if version is None or rel.get("fixed_version") == "0":
                    continue
                fixed = rel.get("fixed_version") if rel.get("status") == "resolved" else None
                yield Affected(cve, f"Debian:{version}", package, None, fixed, None,
                               str(rel.get("urgency", "unknown")).upper(),
                               info.get("description", ""))


def alpine_secdb_rows(doc: dict) -> Iterator[Affected]:
    eco = "Alpine:" + doc.get("distroversion", "")
    for item in doc.get("packages") or []:
        pkg = item.get("pkg") or {}
        for fixed, ids in (pkg.get("secfixes") or {}).items():
            for vid in ids or []:
                for one in str(vid).split():
                    yield Affected(one, eco, pkg.get("name", ""), None, fixed, None,
                                   "UNKNOWN", "")


def _documents(path: Path) -> Iterator[tuple[str, object]]:
    """(name, parsed JSON) for each document at ``path``: a directory of .json files, a
    zip of them, JSON lines, or one JSON file."""
    if path.is_dir():
        for f in sorted(path.rglob("*.json")):
            yield str(f), json.loads(f.read_bytes())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for n in sorted(z.namelist()):
                if n.endswith(".json"):
                    yield f"{path}!{n}", json.loads(z.read(n))
    else:
        text = path.read_text()
        try:
            yield str(path), json.loads(text)
        except json.JSONDecodeError:
            for i, line in enumerate(io.StringIO(text), 1):
                if line.strip():
                    yield f"{path}:{i}", json.loads(line)


def osv_aliases(rec: dict) -> list[tuple[str, str]]:
    """(id, alias) for each of an OSV record's ``aliases`` (a GHSA record naming its CVE)."""
    return [(rec["id"], a) for a in rec.get("aliases") or []
            if isinstance(a, str) and a and a != rec["id"]]


def _rows(name: str, doc: object) -> tuple[str, list[Affected], list[tuple[str, str]]]:
    """Tell the format by its shape: OSV has ``id``, secdb ``distroversion``, else Debian's
    (both keyed by CVE already, so without aliases)."""
    if isinstance(doc, dict) and "id" in doc and ("affected" in doc or "modified" in doc):
        return "osv", list(osv_rows(doc)), osv_aliases(doc)
    if isinstance(doc, dict) and "distroversion" in doc:
        return "alpine-secdb", list(alpine_secdb_rows(doc)), []
    if isinstance(doc, dict) and all(isinstance(v, dict) for v in doc.values()):
        return "debian-tracker", list(debian_tracker_rows(doc)), []
    raise InvalidInput(f"{name}: neither an OSV record, Debian tracker JSON nor Alpine secdb")


def import_path(root: Path, path: Path) -> tuple[str, int]:
    """Import every advisory at ``path`` in one transaction; returns (kind, rows)."""
    if not path.exists():
        raise NotFound(f"{path}: no such file or directory")
    batches = []
    try:
        for name, doc in _documents(path):
            batches.append(_rows(name, doc))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: not JSON: {e}") from None
    kinds = sorted({k for k, _, _ in batches}) or ["empty"]
    rows = [r for _, rs, _ in batches for r in rs]
    alias_pairs = [a for _, _, pairs in batches for a in pairs]
    with connect(root, create=True) as conn:
        cur = conn.execute("INSERT INTO sources (path, kind, imported, records) VALUES (?,?,?,?)",
                           (str(path.absolute()), ",".join(kinds), time.time(), len(rows)))
        conn.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?,?,?,?)",
                         [(cur.lastrowid, r.vuln, r.ecosystem, r.package, r.introduced,
                           r.fixed, r.last_affected, r.severity, r.summary) for r in rows])
        conn.executemany("INSERT INTO aliases VALUES (?,?,?)",
                         [(cur.lastrowid, vuln, alias) for vuln, alias in alias_pairs])
    return ",".join(kinds), len(rows)


def status(root: Path) -> list[dict]:
    """Each source: path, kind, when imported, and how many ranges it gave."""
    with connect(root) as conn:
        return [{"path": p, "kind": k, "imported": t, "records": n} for p, k, t, n in
                conn.execute("SELECT path, kind, imported, records FROM sources ORDER BY id")]


def affected(conn: sqlite3.Connection, ecosystem: str, package: str) -> list[Affected]:
    return [Affected(*row) for row in conn.execute(
        "SELECT vuln, ecosystem, package, introduced, fixed, last_affected, severity, summary "
        "FROM affected WHERE ecosystem = ? AND package = ?", (ecosystem, package))]


def aliases(conn: sqlite3.Connection, vuln: str) -> tuple[str, ...]:
    """The other IDs of ``vuln``, both ways: what its records list as aliases, and the
    records that list it (a Debian CVE finding gets the GHSA naming that CVE)."""
    rows = conn.execute("SELECT alias FROM aliases WHERE vuln = ? UNION "
                        "SELECT vuln FROM aliases WHERE alias = ?", (vuln, vuln))
    return tuple(sorted({a for (a,) in rows} - {vuln}))
