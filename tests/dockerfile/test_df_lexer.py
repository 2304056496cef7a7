"""Word expansion beyond the corpus: pattern modifiers, errors and lexer options."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.lexer.shell import ShellError, ShellLex

ENV = {"v": "aXbXc", "path": "/usr/local/bin/tool.tar.gz", "empty": ""}


@pytest.mark.parametrize(("word", "expected"), [
    ("${v#a*}", "XbXc"),
    ("${v##*X}", "c"),
    ("${v#*X}", "bXc"),
    ("${v%X*}", "aXb"),
    ("${v%%X*}", "a"),
    ("${path%.*}", "/usr/local/bin/tool.tar"),
    ("${path%%.*}", "/usr/local/bin/tool"),
    ("${path##*/}", "tool.tar.gz"),
    ("${v/X/-}", "a-bXc"),
    ("${v//X/-}", "a-b-c"),
    ("${v//?/.}", "....."),
    ("${v/nomatch/z}", "aXbXc"),
    ("${unset/X/-}", ""),
    ("${v-def}", "aXbXc"),
    ("${unset-def}", "def"),
    ("${empty-def}", ""),
    ("${empty:-def}", "def"),
    ("${empty+alt}", "alt"),
    ("${empty:+alt}", ""),
    ("${v:?boom}", "aXbXc"),
])
def test_modifiers(word: str, expected: str):
    assert ShellLex().process_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), [
    ("${unset?must be set}", "unset: must be set"),
    ("${empty:?}", "empty: is not allowed to be empty"),
    ("${unset:?}", "unset: is not allowed to be unset"),
    ("${v:#x}", "unsupported modifier (:#)"),
    ("${v", "missing '}'"),
    ("${v/a", "missing '/'"),
    ("${}", "bad substitution"),
    ("'open", "matching single-quote"),
])
def test_errors_name_the_problem(word: str, message: str):
    with pytest.raises(ShellError) as info:
        ShellLex().process_word(word, ENV)
    assert message in info.value.message
    assert "failed to process" in info.value.message


def test_word_splitting_only_on_unquoted_expansion():
    lex = ShellLex()
    env = {"x": "a  b"}
    assert lex.process_words("$x", env) == ["a", "b"]
    assert lex.process_words('"$x"', env) == ["a  b"]
    assert lex.process_word("$x", env) == "a  b"


def test_backtick_escape():
    lex = ShellLex("`")
    assert lex.process_word("a`$b", {"b": "x"}) == "a$b"
    assert lex.process_word("C:\\dir", {}) == "C:\\dir"


def test_matched_and_unmatched_are_recorded():
    res = ShellLex().process("$v ${nope} ${other:-d}", ENV)
    assert res.matched == {"v"}
    assert res.unmatched == {"nope"}  # a default means the author expected it unset


def test_skip_unset_env_keeps_references():
    lex = ShellLex(skip_unset_env=True)
    assert lex.process_word("$a ${b} ${c:-d}", {}) == "$a ${b} ${c:-d}"


def test_raw_quotes_and_escapes():
    lex = ShellLex(raw_quotes=True, raw_escapes=True)
    assert lex.process_word("'a b'\\x", {}) == "'a b'\\x"


def test_invalid_escape_token():
    with pytest.raises(DockerfileError):
        ShellLex("!")


def test_empty_quotes_make_no_word():
    # BuildKit only emits a word when its buffer holds text.
    assert ShellLex().process_words('"" x', {}) == ["x"]
    assert ShellLex().process_words("''", {}) == []


def _regex_prefix_end(pattern: str, value: str, greedy: bool) -> int | None:
    """Reference: the pattern as a backtracking regex (fine for tiny inputs)."""
    import re

    rx = "".join(".*" if c == "*" and greedy else ".*?" if c == "*" else "." if c == "?"
                 else re.escape(c) for c in pattern)
    m = re.match(rx, value, re.DOTALL)
    return m.end() if m else None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab*?", max_size=6), st.text(alphabet="ab\n", max_size=8), st.booleans())
def test_glob_matches_like_a_regex(pattern: str, value: str, greedy: bool):
    from wharfie.dockerfile.lexer.shell import _Glob

    # greedy stars give the longest prefix match, lazy ones the shortest
    assert _Glob(pattern).match_prefix(value, greedy) == _regex_prefix_end(pattern, value, greedy)


@pytest.mark.parametrize(("word", "expected"), [
    ("${v//*/-}", "-"),          # Go: no second replacement for the empty match at the end
    ("${e//x/-}", ""),
    ("${v///-}", "-a-X-b-X-c-"),  # empty pattern matches between every character
    ("${v/X*/-}", "a-"),
    ("${v/\\*/-}", "aXbXc"),
])
def test_replace_follows_go_semantics(word: str, expected: str):
    assert ShellLex().process_word(word, {"v": "aXbXc", "e": ""}) == expected


@pytest.mark.timeout(10)
def test_pathological_patterns_do_not_hang():
    value = "a" * 3000
    pattern = "*a" * 40 + "b"
    lex = ShellLex()
    assert lex.process_word("${v#" + pattern + "}", {"v": value}) == value
    assert lex.process_word("${v%%" + pattern + "}", {"v": value}) == value
    assert lex.process_word("${v//" + pattern + "/x}", {"v": value[:300]}) == value[:300]
