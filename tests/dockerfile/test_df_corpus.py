"""BuildKit's own parser and lexer test data, read in place from the corpus
(tests.conftest.CORPUS: $WHARFIE_TEST_CORPUS or ../shared/corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import CORPUS, corpus_params

from wharfie.dockerfile import DockerfileError, parse
from wharfie.dockerfile.lexer.shell import ShellError, ShellLex

pytestmark = pytest.mark.usefixtures("corpus")  # every test here reads it

BK = CORPUS / "buildkit" / "frontend" / "dockerfile"
POSITIVE = corpus_params(lambda: sorted((BK / "parser" / "testfiles").iterdir()))
NEGATIVE = corpus_params(lambda: sorted((BK / "parser" / "testfiles-negative").iterdir()))


def test_corpus_is_present():
    assert len(POSITIVE) >= 30 and len(NEGATIVE) >= 4


@pytest.mark.parametrize("case", POSITIVE, ids=lambda p: p.name)
def test_testfiles_dump(case: Path):
    result = parse((case / "Dockerfile").read_bytes(), filename=str(case / "Dockerfile"))
    assert result.dump() == (case / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", NEGATIVE, ids=lambda p: p.name)
def test_testfiles_negative(case: Path):
    with pytest.raises(DockerfileError) as info:
        parse((case / "Dockerfile").read_bytes(), filename="Dockerfile")
    assert info.value.message.startswith("Dockerfile")


def test_testfile_line_ranges():
    result = parse((BK / "parser" / "testfile-line" / "Dockerfile").read_bytes())
    assert [(n.start_line, n.end_line) for n in result.nodes] == [(5, 5), (11, 12), (17, 31)]


ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases() -> list[tuple[str, str]]:
    cases = []
    for line in (BK / "shell" / "envVarTest").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        platform, source, expected = (f.strip() for f in line.split("|", 2))
        if platform in ("A", "U"):
            cases.append((source, expected))
    return cases


ENV_VAR_CASES = corpus_params(_env_var_cases, arity=2)


def test_env_var_cases_loaded():
    assert len(ENV_VAR_CASES) > 200


@pytest.mark.parametrize(("source", "expected"), ENV_VAR_CASES)
def test_env_var(source: str, expected: str):
    lex = ShellLex("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lex.process_word(source, ENV_VAR_ENV)
    else:
        assert lex.process_word(source, ENV_VAR_ENV) == expected


def _words_cases() -> list[tuple[str, str, dict[str, str]]]:
    env: dict[str, str] = {}
    cases = []
    for line in (BK / "shell" / "wordsTest").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, value = line[4:].split("=", 1)
            env[key] = value
            continue
        source, expected = line.split("|", 1)
        cases.append((source.strip(), expected.lstrip(" "), dict(env)))
    return cases


WORDS_CASES = corpus_params(_words_cases, arity=3)


@pytest.mark.parametrize(("source", "expected", "env"), WORDS_CASES)
def test_words(source: str, expected: str, env: dict[str, str]):
    lex = ShellLex("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lex.process_words(source, env)
    else:
        assert lex.process_words(source, env) == expected.split(",")
