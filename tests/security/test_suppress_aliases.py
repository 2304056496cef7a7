"""Suppression by alias: an ignore line or an OpenVEX statement naming a CVE suppresses the
GHSA finding that aliases it, and the other way round; findings carry their aliases in
the JSON, SARIF and CycloneDX reports; a database written before aliases were kept still
opens and gains them on the next import."""

from __future__ import annotations

import json
import sqlite3

from tests.security.conftest import OSV_REQUESTS, STEPS, rootfs

from wharfie.images.imagestore import ImageStore
from wharfie.security.vulns.db import db_path
from wharfie.testing.random import add_image

GHSA, CVE = "GHSA-j8r2-6x86-q33q", "CVE-2023-32681"  # requests' advisory and its CVE
GLIBC = "CVE-2023-4911"


def scan(wharfie, ref: str, *args: str) -> dict:
    return json.loads(wharfie("scan", "--format", "json", "--show-suppressed", ref,
                              *args).stdout)


def vex(tmp_path, *statements: dict):
    path = tmp_path / "vex.json"
    path.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/2",
        "author": "test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
        "statements": list(statements)}))
    return str(path)


def suppressed(doc: dict) -> set[tuple]:
    return {(s["id"], s["reason"], tuple(s["finding"]["aliases"])) for s in doc["suppressed"]}


def test_ghsa_finding_suppressed_by_vex_naming_only_its_cve(store_with_db, tmp_path):
    doc = scan(store_with_db, "app:vulnerable", "--vex", vex(
        tmp_path,
        {"vulnerability": {"name": CVE}, "products": [{"@id": "pkg:pypi/requests"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        # neither glibc's ID nor its aliases: glibc's finding stays
        {"vulnerability": {"name": "CVE-2023-4863", "aliases": ["GHSA-j7hp-h8jx-5ppr"]},
         "status": "not_affected", "justification": "component_not_present"}))
    assert [(f["vuln"], f["aliases"]) for f in doc["vulnerabilities"]] == [(GLIBC, [])]
    assert suppressed(doc) == {
        (GHSA, "VEX not_affected: vulnerable_code_not_in_execute_path", (CVE,))}


def test_vex_alias_still_needs_the_product(store_with_db, tmp_path):
    """The alias meets, but the statement is about libc6, not requests: nothing is
    suppressed; the same statement for requests' purl suppresses it."""
    libc = {"vulnerability": {"name": CVE}, "status": "not_affected",
            "products": [{"@id": "pkg:deb/debian/libc6"}]}
    doc = scan(store_with_db, "app:vulnerable", "--vex", vex(tmp_path, libc))
    assert {f["vuln"] for f in doc["vulnerabilities"]} == {GLIBC, GHSA}
    assert doc["suppressed"] == []
    requests = {**libc, "products": [{"@id": "pkg:pypi/requests@2.30.0"}]}
    doc = scan(store_with_db, "app:vulnerable", "--vex", vex(tmp_path, requests))
    assert suppressed(doc) == {(GHSA, "VEX not_affected", (CVE,))}


def test_ghsa_finding_suppressed_by_ignore_line_naming_its_cve(store_with_db, tmp_path):
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"{CVE} exp:2999-01-01\nCVE-2023-4863\n")
    doc = scan(store_with_db, "app:vulnerable", "--ignorefile", str(ignore))
    assert [f["vuln"] for f in doc["vulnerabilities"]] == [GLIBC]
    assert suppressed(doc) == {(GHSA, "ignore file line 1 (until 2999-01-01)", (CVE,))}
    table = store_with_db("scan", "app:vulnerable", "--ignorefile", str(ignore),
                          "--show-suppressed").stdout.decode()
    assert [line.split()[:2] for line in table.splitlines()
            if line.startswith(GHSA)] == [[GHSA, "vuln"]]
    ignore.write_text(f"{CVE} exp:2001-01-01\n")  # expired: reported again
    assert {f["vuln"] for f in scan(store_with_db, "app:vulnerable", "--ignorefile",
                                    str(ignore))["vulnerabilities"]} == {GLIBC, GHSA}


# A Debian tracker entry written for this test (the shape of the tracker's, keyed by CVE;
# not Debian's real status): the finding is CVE-2023-32681, and the imported GHSA record,
# which lists that CVE as its alias, gives it the GHSA as an alias.
TRACKER_REQUESTS = {"python-requests": {CVE: {
    "description": "Proxy-Authorization header leak",
    "releases": {"bookworm": {"status": "open", "urgency": "medium"}}}}}


def test_cve_finding_suppressed_by_ignore_line_naming_its_ghsa(store_with_db, root, tmp_path):
    (tmp_path / "requests-tracker.json").write_text(json.dumps(TRACKER_REQUESTS))
    store_with_db("db", "import", str(tmp_path / "requests-tracker.json"))
    images = ImageStore(root)
    add_image(images, "app:deb-requests", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u1"),
               "python3-requests": ("python-requests", "2.28.1+dfsg-1")}, "2.31.0"))
    images.close()
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"{GHSA}\n")
    doc = scan(store_with_db, "app:deb-requests", "--ignorefile", str(ignore))
    assert [(f["vuln"], f["aliases"]) for f in doc["vulnerabilities"]] == [(GLIBC, [])]
    assert suppressed(doc) == {(CVE, "ignore file line 1", (GHSA,))}


def test_aliases_in_sarif_and_cyclonedx(store_with_db):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = store_with_db("scan", "--format", "cyclonedx", "app:vulnerable").stdout.decode()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    refs = {v["id"]: v.get("references") for v in json.loads(text)["vulnerabilities"]}
    assert refs == {GLIBC: None, GHSA: [{"id": CVE, "source": {"name": "wharfie vulndb"}}]}
    sarif = json.loads(store_with_db("scan", "--format", "sarif", "app:vulnerable").stdout)
    rules = {r["id"]: r["properties"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert rules[GHSA]["aliases"] == [CVE] and "aliases" not in rules[GLIBC]


# The schema before aliases were kept.
OLD_SCHEMA = """
CREATE TABLE sources (id INTEGER PRIMARY KEY, path TEXT, kind TEXT, imported REAL,
    records INTEGER);
CREATE TABLE affected (source INTEGER REFERENCES sources(id), vuln TEXT, ecosystem TEXT,
    package TEXT, introduced TEXT, fixed TEXT, last_affected TEXT, severity TEXT, summary TEXT);
CREATE INDEX affected_pkg ON affected (ecosystem, package);
INSERT INTO sources VALUES (1, '/old/osv.jsonl', 'osv', 0, 1);
INSERT INTO affected VALUES (1, 'GHSA-j8r2-6x86-q33q', 'PyPI', 'requests', '2.3.0', '2.31.0',
    NULL, 'MODERATE', 'Proxy-Authorization header leak');
"""


def test_database_from_before_aliases_opens_and_gains_them(root, wharfie, tmp_path):
    path = db_path(root)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    conn.close()
    images = ImageStore(root)
    add_image(images, "app:vulnerable", history=STEPS, files=rootfs(
        "12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0"))
    images.close()
    ignore = tmp_path / ".trivyignore"
    ignore.write_text(f"{CVE}\n")
    old = scan(wharfie, "app:vulnerable", "--ignorefile", str(ignore))
    assert [(f["vuln"], f["aliases"]) for f in old["vulnerabilities"]] == [(GHSA, [])]
    (tmp_path / "osv.jsonl").write_text(json.dumps(OSV_REQUESTS) + "\n")
    wharfie("db", "import", str(tmp_path / "osv.jsonl"))
    new = scan(wharfie, "app:vulnerable", "--ignorefile", str(ignore))
    assert new["vulnerabilities"] == []
    assert suppressed(new) == {(GHSA, "ignore file line 1", (CVE,))}
    assert "osv" in wharfie("db", "status").stdout.decode()
