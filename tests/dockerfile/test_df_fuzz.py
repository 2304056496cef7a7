"""Fuzzing: random and grammar-shaped Dockerfiles never raise anything but DockerfileError,
never hang, and parse exactly as the official Go parser (PyPI ``dockerfile``) parses them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dockerfile as go_parser
from wharfie.dockerfile import DockerfileError, parse, parse_dockerfile, resolve
from wharfie.dockerfile.lexer.shell import ShellLex
from wharfie.dockerfile.lint import lint

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

INSTRUCTIONS = ["FROM", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "LABEL", "ARG",
                "EXPOSE", "USER", "WORKDIR", "VOLUME", "SHELL", "HEALTHCHECK", "ONBUILD",
                "STOPSIGNAL", "MAINTAINER", "from", "Run", "RNU"]
TOKENS = ["a", "b=c", "x y", '"q"', "'s'", "\\", "`", "$V", "${V:-d}", "${", "}", "[", "]",
          '["a", "b"]', '[ "x" ]', "[1]", "--from=a", "--chmod=755", "--mount=type=cache,target=/c",
          "--link", "--", "AS", "as", "stage", "<<EOF", "<<-EOT", "<<'Q'", "#", "# c", "=", ",",
          "CMD", "NONE", "80/tcp", "\t", " ", "é", "\u00a0"]


@st.composite
def dockerfiles(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["# escape=`", "# syntax=x", "# check=skip=all",
                                           "\ufeff# escape=\\", "#escape=?"])))
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["", "   ", "# comment", "EOF", "EOT", "Q", "\tEOT"])))
        else:
            words = draw(st.lists(st.sampled_from(TOKENS), max_size=6))
            sep = draw(st.sampled_from([" ", "  ", "\t"]))
            tail = draw(st.sampled_from(["", "", " \\", "\\", " `"]))
            lines.append(draw(st.sampled_from(INSTRUCTIONS)) + sep + sep.join(words) + tail)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(lines) + draw(st.sampled_from(["", end]))


def exercise(text: str) -> None:
    """Run every layer over ``text``; only DockerfileError may escape."""
    try:
        parse(text).dump()
        df = parse_dockerfile(text)
        resolve(df, build_args={"V": "1"})
        lint(text)
    except DockerfileError as e:
        assert e.message


@FUZZ
@given(st.text(max_size=400))
@example("FROM a\nRUN <<EOF")
@example("\x00\n\ufeff")
def test_random_text_only_raises_dockerfile_error(text: str):
    exercise(text)


@FUZZ
@given(dockerfiles())
def test_grammar_shaped_only_raises_dockerfile_error(text: str):
    exercise(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab $\\`'\"{}:-+?#%/*.=\t한")), max_size=40),
       st.dictionaries(st.sampled_from(["a", "b", "ab"]), st.text(max_size=5), max_size=3),
       st.sampled_from(["\\", "`"]))
def test_lexer_only_raises_dockerfile_error(word: str, env: dict[str, str], escape: str):
    for options in ({}, {"raw_quotes": True, "raw_escapes": True}, {"skip_unset_env": True}):
        lex = ShellLex(escape, **options)
        try:
            words = lex.process_words(word, env)
            assert all(w for w in words)
            lex.process_word(word, env)
        except DockerfileError as e:
            assert "failed to process" in e.message


def ours_as_oracle(text: str) -> list[tuple]:
    out = []
    for n in parse(text).nodes:
        node = n.sub if n.sub is not None else n
        # A nested trigger (ONBUILD ONBUILD x) shows as its empty container node there.
        args = [""] if node.sub is not None else node.args
        if node.name in ("env", "label"):
            args = [a for i, a in enumerate(args) if i % 3 != 2]
        # The binding reports the outer node's flags, and no heredocs for ONBUILD triggers.
        docs = () if n.sub else tuple((h.name, h.content) for h in n.heredocs)
        out.append((n.value, n.sub.value if n.sub else None, node.json, n.start_line, n.end_line,
                    tuple(n.flags), tuple(args), docs))
    return out


def oracle(text: str) -> list[tuple]:
    return [(c.cmd, c.sub_cmd, c.json, c.start_line, c.end_line, c.flags, c.value,
             tuple((h.name, h.content) for h in c.heredocs))
            for c in go_parser.parse_string(text)]


ASCII_TOKENS = [t for t in TOKENS if t.isascii() and t != "\t"]


@st.composite
def ascii_dockerfiles(draw) -> str:
    lines = ["FROM base"]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 8))
        if kind == 0:
            lines.append(draw(st.sampled_from(["", "# comment", "EOF", "EOT"])))
            continue
        words = draw(st.lists(st.sampled_from(ASCII_TOKENS), max_size=5))
        tail = draw(st.sampled_from(["", "", " \\"]))
        lines.append(draw(st.sampled_from(INSTRUCTIONS)) + " " + " ".join(words) + tail)
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(ascii_dockerfiles())
@example('FROM base\nCMD --doit [ "a", "b" ]\nONBUILD COPY --from=x <<EOF /y\nhi\nEOF\n')
@example("FROM base\nONBUILD  \\\n\nONBUILD a\n")
def test_differential_against_go_parser(text: str):
    try:
        expected = oracle(text)
    except go_parser.GoParseError:
        with pytest.raises(DockerfileError):
            parse(text)
        return
    assert ours_as_oracle(text) == expected


def test_atheris_coverage_guided_run(tmp_path):
    """A short libFuzzer session over parser, resolve, lint and lexer: no crash, no hang."""
    import subprocess
    import sys
    from pathlib import Path

    harness = Path(__file__).with_name("atheris_harness.py")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a").write_text('FROM a AS b\nRUN <<EOF\nx\nEOF\nCOPY --from=b ["x", "y"] /z\n')
    (seeds / "b").write_text("ARG V=1\nFROM img:$V\nENV A=${V:-2} B=${A#*}\nCMD run\n")
    # crash reproducers go to the test's own folder, never the checkout
    res = subprocess.run([sys.executable, str(harness), "-runs=4000", "-max_len=512",
                          "-timeout=10", f"-artifact_prefix={tmp_path}/", str(seeds)],
                         capture_output=True, text=True, timeout=110)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Done 4000 runs" in res.stderr
