"""Parser behaviour the corpus does not pin down: directives, heredocs, errors, lines."""

from __future__ import annotations

import pytest

from wharfie.dockerfile import DockerfileError, parse


def dump(text: str) -> str:
    return parse(text).dump()


def test_directives_are_read_and_recorded():
    r = parse("# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended;error=true\n"
              "FROM a\n")
    assert r.directive("syntax") == "docker/dockerfile:1"
    assert r.directive("check") == "skip=JSONArgsRecommended;error=true"
    assert r.directives[1].line == 2


def test_directive_after_instruction_is_a_comment():
    r = parse("FROM a\n# escape=`\nRUN x \\\n y\n")
    assert r.escape == "\\"
    assert r.nodes[1].args == ["x  y"]


def test_duplicate_directive_is_an_error():
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: only one escape parser directive"):
        parse("# escape=`\n# escape=\\\nFROM a\n")


def test_invalid_escape_directive():
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_bom_is_stripped():
    assert dump("\ufeff# escape=`\nFROM a\nRUN b `\n c\n") == '(from "a")\n(run "b  c")\n'
    assert parse(b"\xef\xbb\xbfFROM a\n").nodes[0].value == "FROM"


def test_crlf_line_endings():
    assert dump("FROM a\r\nRUN b \\\r\n  c\r\n") == '(from "a")\n(run "b   c")\n'


def test_instruction_names_are_case_insensitive():
    r = parse("from a\nrUn b\n")
    assert [n.name for n in r.nodes] == ["from", "run"]
    assert r.nodes[1].value == "rUn"


def test_heredoc_basic_and_line_range():
    r = parse("FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN after\n")
    run = r.nodes[1]
    assert (run.start_line, run.end_line) == (2, 4)
    assert run.heredocs[0].name == "EOF" and run.heredocs[0].content == "echo $HOME\n"
    assert run.heredocs[0].expand is True
    assert r.nodes[2].start_line == 5


def test_heredoc_quoted_delimiter_disables_expansion():
    for opener in ("<<'EOF'", '<<"EOF"', "<<E'O'F"):
        doc = parse(f"FROM a\nRUN {opener}\nx\nEOF\n").nodes[1].heredocs[0]
        assert doc.name == "EOF" and doc.expand is False


def test_heredoc_chomp_strips_leading_tabs():
    doc = parse("FROM a\nRUN <<-EOF\n\t\tone\n\ttwo\n\tEOF\n").nodes[1].heredocs[0]
    assert doc.content == "\t\tone\n\ttwo\n"
    assert doc.body() == "one\ntwo\n"


def test_several_heredocs_on_one_line():
    r = parse("FROM a\nRUN <<A cat /dev/stdin - 3<<B\nfirst\nA\nsecond\nB\nRUN z\n")
    docs = r.nodes[1].heredocs
    assert [(d.name, d.content, d.fd) for d in docs] == [("A", "first\n", 0), ("B", "second\n", 3)]
    assert r.nodes[2].start_line == 7


def test_heredoc_with_shebang_and_copy():
    r = parse("FROM a\nCOPY <<EOF /app.py\n#!/usr/bin/env python3\nprint(1)\nEOF\n")
    assert r.nodes[1].heredocs[0].content == "#!/usr/bin/env python3\nprint(1)\n"
    assert r.nodes[1].args == ["<<EOF", "/app.py"]


def test_json_form_disables_heredocs():
    r = parse('FROM a\nRUN ["<<EOF"]\nFROM b\n')
    assert r.nodes[1].heredocs == [] and len(r.nodes) == 3


def test_unterminated_heredoc_names_line():
    with pytest.raises(DockerfileError, match=r"df:2: unterminated heredoc"):
        parse("FROM a\nRUN <<EOF\nno end\n", filename="df")


def test_invalid_json_falls_back_to_shell_form():
    r = parse("FROM a\nCMD [\"a\", 'b']\n")
    assert r.nodes[1].json is False and r.nodes[1].args == ["[\"a\", 'b']"]


def test_non_string_json_array_is_an_error():
    with pytest.raises(DockerfileError, match="Dockerfile:2: when using JSON array syntax"):
        parse("FROM a\nCMD [\"a\", 1]\n")


def test_onbuild_nests():
    r = parse("FROM a\nONBUILD COPY --from=x a b\n")
    assert r.nodes[1].dump() == 'onbuild (copy ["--from=x"] "a" "b")'


def test_unknown_instruction_is_kept_in_the_ast():
    assert dump("FROM a\nRNU x\n") == '(from "a")\n(rnu "")\n'


def test_empty_continuation_line_warns():
    r = parse("FROM a\nRUN a \\\n\n  b\n")
    assert r.nodes[1].args == ["a   b"]
    assert r.warnings and "empty continuation line" in r.warnings[0]


def test_comments_are_attached():
    r = parse("FROM a\n# install things\nRUN x\n")
    assert r.nodes[1].comments == ["install things"]
