"""``wharfie scan`` as one report: --scanners vuln,secret,misconfig, suppression by an
ignore file (with expiry) and OpenVEX, --show-suppressed, and the SARIF and CycloneDX
documents, checked against their schemas."""

from __future__ import annotations

import json

import pytest
from tests.security.conftest import STEPS, rootfs

from wharfie.images.imagestore import ImageStore
from wharfie.testing.random import add_image

GITHUB = "ghp_" + "x7Kq2Lm9Np4Rs6Tv8Wy1Zb3Cd5Fg0Hj7Kl9M"
DOCKERFILE = "FROM debian:latest\nRUN pip install requests\n"


@pytest.fixture
def leaky(store_with_db, root, tmp_path):
    """app:leaky: the vulnerable packages, a token in a file, root user, no HEALTHCHECK."""
    images = ImageStore(root)
    layers = rootfs("12", {"libc6": ("glibc", "2.36-9+deb12u1")}, "2.30.0")
    layers[1]["srv/.env"] = f"GITHUB_TOKEN={GITHUB}\n".encode()
    add_image(images, "app:leaky", history=STEPS, files=layers)
    images.close()
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    return store_with_db


def report(wharfie, *args: str) -> dict:
    return json.loads(wharfie("scan", "--format", "json", "app:leaky", *args).stdout)


def test_three_scanners_one_report(leaky, tmp_path):
    doc = report(leaky, "--scanners", "vuln,secret,misconfig", "--file",
                 str(tmp_path / "Dockerfile"))
    assert {f["vuln"] for f in doc["vulnerabilities"]} == {"CVE-2023-4911",
                                                           "GHSA-j8r2-6x86-q33q"}
    assert [(s["rule"], s["path"], s["layer"], s["step"]) for s in doc["secrets"]] == [
        ("github-pat", "srv/.env", 1, "RUN pip install requests")]
    assert {(m["id"], m["source"]) for m in doc["misconfigs"]} >= {
        ("RootUser", "config"), ("NoHealthcheck", "config"),
        ("LatestTag", str(tmp_path / "Dockerfile"))}
    only = report(leaky, "--scanners", "secret")
    assert (only["vulnerabilities"], len(only["secrets"]), only["misconfigs"]) == ([], 1, [])
    bad = leaky("scan", "--scanners", "vuln,viruses", "app:leaky", check=False)
    assert bad.returncode != 0 and b"Traceback" not in bad.stderr
    assert bad.stderr.decode().startswith("wharfie: error: unknown scanner 'viruses'")


def test_ignorefile_with_expiry_vex_and_show_suppressed(leaky, tmp_path):
    ignore = tmp_path / ".trivyignore"
    ignore.write_text("# accepted until the upgrade\nGHSA-j8r2-6x86-q33q exp:2999-01-01\n"
                      "github-pat exp:2001-01-01\n")  # expired: the secret is reported again
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1",
        "author": "test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
        "statements": [
            {"vulnerability": {"name": "CVE-2023-4911"},
             "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": "pkg:deb/debian/libc6"}]}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": "GHSA-j8r2-6x86-q33q"}, "status": "affected"}]}))
    args = ("--ignorefile", str(ignore), "--vex", str(vex))
    doc = report(leaky, *args)
    assert doc["vulnerabilities"] == [] and len(doc["secrets"]) == 1
    assert "suppressed" not in doc
    shown = report(leaky, *args, "--show-suppressed")["suppressed"]
    assert {(s["id"], s["reason"]) for s in shown} == {
        ("GHSA-j8r2-6x86-q33q", "ignore file line 2 (until 2999-01-01)"),
        ("CVE-2023-4911", "VEX not_affected: vulnerable_code_not_in_execute_path")}
    table = leaky("scan", "app:leaky", *args, "--show-suppressed").stdout.decode()
    assert "SUPPRESSED" in table and "VEX not_affected" in table
    assert leaky("scan", "--exit-code", "4", "--scanners", "vuln", "app:leaky",
                 *args).returncode == 0


# The parts of SARIF 2.1.0's schema a consumer relies on (the full schema is not shipped).
SARIF_SCHEMA = {
    "type": "object", "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name", "rules"], "properties": {
                        "rules": {"type": "array", "items": {
                            "type": "object", "required": ["id", "shortDescription"],
                            "properties": {"shortDescription": {
                                "type": "object", "required": ["text"]}}}}}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["ruleId", "ruleIndex", "message", "level"],
                    "properties": {
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": {"type": "object", "required": ["text"]},
                        "ruleIndex": {"type": "integer", "minimum": 0},
                        "suppressions": {"type": "array", "items": {
                            "type": "object", "required": ["kind"], "properties": {
                                "kind": {"enum": ["inSource", "external"]}}}},
                        "locations": {"type": "array", "items": {
                            "type": "object", "properties": {"physicalLocation": {
                                "type": "object", "required": ["artifactLocation"],
                                "properties": {"region": {
                                    "type": "object", "properties": {
                                        "startLine": {"type": "integer", "minimum": 1}}}}}}}}}}},
            }}},
    },
}


def test_sarif(leaky, tmp_path):
    import jsonschema

    ignore = tmp_path / "ignore"
    ignore.write_text("CVE-2023-4911\n")
    doc = json.loads(leaky("scan", "--format", "sarif", "--scanners", "vuln,secret,misconfig",
                           "--ignorefile", str(ignore), "--show-suppressed",
                           "app:leaky").stdout)
    jsonschema.validate(doc, SARIF_SCHEMA)
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rules) == len(set(rules))
    for res in run["results"]:
        assert rules[res["ruleIndex"]] == res["ruleId"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["CVE-2023-4911"]["suppressions"][0]["kind"] == "external"
    assert "suppressions" not in by_rule["GHSA-j8r2-6x86-q33q"]
    assert by_rule["github-pat"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "srv/.env"}, "region": {"startLine": 1}}
    assert {"RootUser", "NoHealthcheck"} <= set(by_rule)


def test_cyclonedx_vulnerabilities(leaky):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = leaky("scan", "--format", "cyclonedx", "app:leaky").stdout.decode()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    doc = json.loads(text)
    refs = {c["bom-ref"]: c["name"] for c in doc["components"]}
    assert {(v["id"], refs[v["affects"][0]["ref"]]) for v in doc["vulnerabilities"]} == {
        ("CVE-2023-4911", "libc6"), ("GHSA-j8r2-6x86-q33q", "requests")}
