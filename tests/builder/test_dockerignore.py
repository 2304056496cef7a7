import json

import pytest
from tests.conftest import CORPUS, corpus_params

from wharfie.builder.context.dockerignore import (
    PatternError,
    PatternMatcher,
    go_clean,
    load_for,
    read_ignore_file,
)

CASES = corpus_params(
    lambda: json.loads((CORPUS / "patternmatcher" / "matches.json").read_text())["cases"])


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['patterns']}-{c['path']}")
def test_patternmatcher_corpus(case):
    assert PatternMatcher(case["patterns"]).excludes(case["path"]) is case["excluded"]


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['patterns']}-{c['path']}")
def test_an_excluded_directory_is_walked_when_an_exception_reaches_inside(case):
    """moby's walkers: a file is left out exactly when it is excluded; an excluded directory
    is still sent (and walked) when a ``!`` pattern names something under it (issue 14)."""
    m = PatternMatcher(case["patterns"])
    assert m.hides(case["path"], False) is case["excluded"]
    inside = go_clean(case["path"]) + "/"
    reaches = any(p.startswith("!") and (go_clean(p[1:]) + "/").startswith(inside)
                  for p in case["patterns"])
    assert m.hides(case["path"], True) is (case["excluded"] and not reaches)


def test_exceptions_inside_excluded_directories():
    assert not PatternMatcher(["**", "!folder/file1"]).hides("folder", True)
    assert PatternMatcher(["**", "!folder/file1"]).hides("folder/file2", False)
    assert not PatternMatcher(["sub", "!sub/a*"]).hides("sub/a.txt", False)
    assert PatternMatcher(["sub", "!other/a*"]).hides("sub", True)


@pytest.mark.usefixtures("corpus")
def test_corpus_is_all_there():
    assert len(CASES) >= 70


@pytest.mark.parametrize("path,clean", [
    ("", "."), ("a//b/", "a/b"), ("//a", "/a"), ("a/../..", ".."), ("/../x", "/x"), ("./a/.", "a"),
])
def test_go_clean(path, clean):
    assert go_clean(path) == clean


@pytest.mark.parametrize("bad", ["[", "a[", "[]", "x\\", "[a-]"])
def test_bad_patterns_are_errors(bad):
    with pytest.raises(PatternError):
        PatternMatcher([bad])


def test_lone_exclamation_is_an_error():
    with pytest.raises(PatternError, match="illegal exclusion"):
        PatternMatcher(["!"])


def test_ignore_file_reading():
    text = "\ufeff# comment\n  /abs/path  \n\n! keep.txt\n*.log\n  # not a comment\n"
    assert read_ignore_file(text) == ["abs/path", "!keep.txt", "*.log", "# not a comment"]


def test_exceptions_and_parents():
    m = PatternMatcher(read_ignore_file("node_modules\n**/*.tmp\n!important.tmp\n/build\n"))
    assert m.excludes("node_modules/a/b.js")
    assert m.excludes("src/x.tmp") and not m.excludes("important.tmp")
    assert m.excludes("build/out") and not m.excludes("src/build2")
    assert not m.excludes(".")


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("b\n")
    m = load_for(tmp_path, tmp_path / "Dockerfile")
    assert m.excludes("b") and not m.excludes("a")
    assert load_for(tmp_path, tmp_path / "Other").excludes("a")
