"""The ``wharfie lint`` and ``wharfie debug parse`` commands, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path


def test_debug_parse_prints_buildkit_dump(wharfie, corpus):
    df = corpus / "buildkit/frontend/dockerfile/parser/testfiles/lk4d4-the-edge-case-generator"
    res = wharfie("debug", "parse", "-f", str(df / "Dockerfile"))
    assert res.stdout.decode() == (df / "result").read_text()


def test_debug_parse_stdin_and_json(wharfie):
    text = b"FROM a AS b\nCOPY --from=b <<EOF /x\nhello\nEOF\n"
    assert wharfie("debug", "parse", "-f", "-", input=text).stdout == (
        b'(from "a" "AS" "b")\n(copy ["--from=b"] "<<EOF" "/x")\n')
    doc = json.loads(wharfie("debug", "parse", "-f", "-", "--json", input=text).stdout)
    copy = doc["stages"][0]["instructions"][0]
    assert copy["instruction"] == "COPY" and (copy["start_line"], copy["end_line"]) == (2, 4)
    assert copy["from_"] == "b" and copy["flags"] == ["--from=b"]
    assert copy["contents"] == [{"path": "EOF", "data": "hello\n", "expand": True}]
    assert doc["stages"][0]["name"] == "b"


def test_debug_parse_error_names_file_and_line(wharfie, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM a\nRNU make\n")
    res = wharfie("debug", "parse", "-f", str(tmp_path / "Dockerfile"), "--json", check=False)
    assert res.returncode == 1
    assert res.stderr.decode().strip() == (
        f"wharfie: error: {tmp_path / 'Dockerfile'}:2: unknown instruction: RNU "
        "(did you mean RUN?)")


def test_lint_text_and_exit_codes(wharfie, tmp_path: Path):
    df = tmp_path / "Dockerfile"
    df.write_text("FROM ubuntu\nCMD run\n")
    res = wharfie("lint", "-f", str(df))
    out = res.stdout.decode()
    assert res.returncode == 0
    assert f"{df}:1 UntaggedBaseImage (warning)" in out and "hint:" in out
    assert "JSONArgsRecommended" in out
    res = wharfie("lint", "-f", str(df), "--ignore", "UntaggedBaseImage",
                  "--ignore", "JSONArgsRecommended")
    assert "no problems found" in res.stdout.decode()
    df.write_text("# check=error=true\nFROM ubuntu\n")
    res = wharfie("lint", "-f", str(df), "--format", "json", check=False)
    assert res.returncode == 1
    assert [(f["rule"], f["line"], f["severity"]) for f in json.loads(res.stdout)] == [
        ("UntaggedBaseImage", 2, "error")]


def test_lint_sarif_and_errors(wharfie, tmp_path: Path):
    df = tmp_path / "Dockerfile"
    df.write_text("FROM debian:12\nMAINTAINER me\n")
    log = json.loads(wharfie("lint", "-f", str(df), "--format", "sarif").stdout)
    assert log["runs"][0]["results"][0]["ruleId"] == "MaintainerDeprecated"
    res = wharfie("lint", "-f", str(tmp_path / "missing"), check=False)
    assert res.returncode != 0 and b"wharfie: error: Dockerfile not found" in res.stderr
    res = wharfie("lint", "-f", str(df), "--ignore", "Bogus", check=False)
    assert res.returncode == 1 and b"unknown rule 'Bogus'" in res.stderr
