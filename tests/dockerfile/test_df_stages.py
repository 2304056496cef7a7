"""ARG scoping, expansion where Docker expands, and target -> needed stages."""

from __future__ import annotations

import pytest

from wharfie.dockerfile import DockerfileError, needed_stages, parse_dockerfile, resolve
from wharfie.dockerfile.instructions import Copy, Env, Expose, Run, User, Volume, Workdir


def steps(text: str, **kw):
    r = resolve(parse_dockerfile(text), **kw)
    return r, [s.instruction for s in r.stages[-1].steps]


def test_global_args_are_visible_to_from_only():
    r, ins = steps("ARG IMG=alpine\nARG V=3\nFROM $IMG:$V\nENV X=${IMG}-${V}\n")
    assert r.stages[0].base == "alpine:3"
    assert isinstance(ins[0], Env) and ins[0].pairs == [("X", "-")]
    assert {u.name for u in r.undefined} == {"IMG", "V"}


def test_redeclared_global_arg_takes_global_value():
    _, ins = steps("ARG V=3\nFROM a\nARG V\nENV X=$V\n")
    assert ins[1].pairs == [("X", "3")]


def test_build_args_override_defaults_everywhere():
    r, ins = steps("ARG V=3\nFROM a:$V\nARG V\nARG W=w\nENV X=$V-$W\n",
                   build_args={"V": "9", "W": "z"})
    assert r.stages[0].base == "a:9"
    assert ins[2].pairs == [("X", "9-z")]
    assert r.meta_args == {"V": "9"}


def test_env_beats_arg_and_arg_defaults_expand():
    _, ins = steps("FROM a\nARG A=arg\nENV A=env\nARG B=${A}-b\nWORKDIR /$A/$B\n")
    assert isinstance(ins[3], Workdir) and ins[3].path == "/env/env-b"


def test_env_pairs_on_one_line_use_previous_env():
    _, ins = steps("FROM a\nENV abc=hello\nENV abc=bye def=$abc\n")
    assert ins[1].pairs == [("abc", "bye"), ("def", "hello")]


def test_expansion_only_where_docker_expands():
    text = ("FROM a\nENV D=/data P=8080 U=app S=TERM\nRUN echo $D\nCMD echo $D\nCOPY --chown=$U $D/x $D/\n"
            "EXPOSE $P/udp\nUSER $U\nVOLUME $D\nWORKDIR $D\nLABEL k=$U\nSTOPSIGNAL SIG$S\n")
    _, ins = steps(text)
    assert isinstance(ins[1], Run) and ins[1].command == ["echo $D"]
    assert ins[2].command == ["echo $D"]
    assert isinstance(ins[3], Copy) and ins[3].sources == ["/data/x"] and ins[3].dest == "/data/"
    assert ins[3].chown == "app"
    assert isinstance(ins[4], Expose) and ins[4].ports == ["8080/udp"]
    assert isinstance(ins[5], User) and ins[5].user == "app"
    assert isinstance(ins[6], Volume) and ins[6].paths == ["/data"]
    assert ins[8].pairs == [("k", "app")] and ins[9].signal == "SIGTERM"


def test_copy_heredoc_expansion_respects_quoting():
    _, ins = steps("FROM a\nENV V=1\nCOPY <<EOF /a\n\"$V\"\nEOF\nCOPY <<'EOF' /b\n$V\nEOF\n")
    assert ins[1].contents[0].data == '"1"\n'
    assert ins[2].contents[0].data == "$V\n"


def test_predefined_platform_args():
    r, ins = steps("FROM --platform=$BUILDPLATFORM a\nARG TARGETARCH\nARG TARGETOS\n"
                   "ENV T=$TARGETOS/$TARGETARCH B=$BUILDARCH\n",
                   platform="linux/arm64", build_platform="linux/amd64")
    assert r.stages[0].platform == "linux/amd64"
    assert ins[2].pairs == [("T", "linux/arm64"), ("B", "")]  # BUILDARCH not redeclared


def test_unused_build_arg_warning_is_data():
    r = resolve(parse_dockerfile("ARG USED\nFROM a\nARG ALSO\n"),
                build_args={"USED": "1", "ALSO": "2", "TYPO": "3", "HTTP_PROXY": "p"})
    assert r.unused_build_args == ["TYPO"]
    assert r.warnings == ["One or more build-args [TYPO] were not consumed"]
    assert r.proxy_env == {"HTTP_PROXY": "p"}


def test_args_only_count_in_needed_stages():
    df = parse_dockerfile("FROM a AS x\nARG ONLYX\nFROM b AS y\n")
    assert resolve(df, "y", build_args={"ONLYX": "1"}).unused_build_args == ["ONLYX"]
    assert resolve(df, "x", build_args={"ONLYX": "1"}).unused_build_args == []


def test_env_inherited_from_parent_stage():
    r, ins = steps("FROM a AS base\nENV P=/opt\nFROM base\nWORKDIR $P\n")
    assert r.stages[1].base_stage == 0 and ins[0].path == "/opt"


def test_base_env_callback_for_images():
    _, ins = steps("FROM debian\nENV PATH=/x:$PATH\n", base_env=lambda ref: {"PATH": "/bin"})
    assert ins[0].pairs == [("PATH", "/x:/bin")]


TARGETS = """\
FROM alpine AS base
FROM base AS deps
RUN make deps
FROM golang AS tools
FROM deps AS build
COPY --from=tools /go/bin/x /x
RUN --mount=type=bind,from=assets,target=/a make
FROM scratch AS assets
FROM alpine AS unused
FROM scratch AS final
COPY --from=build /out /
COPY --from=1 /deps /deps
"""


def test_target_needs_only_its_stages():
    df = parse_dockerfile(TARGETS)
    assert needed_stages(df) == [0, 1, 2, 3, 4, 6]
    assert needed_stages(df, "build") == [0, 1, 2, 3, 4]
    assert needed_stages(df, "BASE") == [0]
    assert needed_stages(df, 5) == [5]


def test_from_stage_name_resolves_only_earlier_stages():
    r = resolve(parse_dockerfile("FROM alpine AS alpine\nRUN x\n"))
    assert r.stages[0].base == "alpine" and r.stages[0].base_stage is None


def test_unknown_target_suggests():
    with pytest.raises(DockerfileError, match=r"target stage 'biuld' could not be found "
                                              r"\(did you mean build\?\)"):
        needed_stages(parse_dockerfile(TARGETS), "biuld")


def test_stage_index_out_of_range():
    with pytest.raises(DockerfileError, match="stage index 7 out of range"):
        needed_stages(parse_dockerfile("FROM a\nCOPY --from=7 /a /b\n"))


def test_cycle_is_an_error():
    text = "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n"
    with pytest.raises(DockerfileError, match="circular dependency detected on stage"):
        needed_stages(parse_dockerfile(text), "two")


def test_copy_from_image_is_not_a_stage():
    assert needed_stages(parse_dockerfile("FROM a\nCOPY --from=nginx:1 /x /x\n")) == [0]


def test_structure_errors():
    with pytest.raises(DockerfileError, match="Dockerfile:1: RUN before the first FROM"):
        parse_dockerfile("RUN x\nFROM a\n")
    with pytest.raises(DockerfileError, match="duplicate stage name 'a'"):
        parse_dockerfile("FROM x AS a\nFROM y AS A\n")
    with pytest.raises(DockerfileError, match="no FROM"):
        parse_dockerfile("ARG X=1\n")
    with pytest.raises(DockerfileError, match="Dockerfile:2: failed to process"):
        resolve(parse_dockerfile("FROM a\nWORKDIR ${X:?needed}\n"))
    with pytest.raises(DockerfileError, match="Dockerfile:3: invalid signal: SIGNOPE"):
        resolve(parse_dockerfile("FROM a\nENV S=NOPE\nSTOPSIGNAL SIG$S\n"))
    with pytest.raises(DockerfileError, match="should not be blank"):
        resolve(parse_dockerfile("ARG B\nFROM $B\n"))


def test_onbuild_triggers_round_trip_and_expand():
    from wharfie.dockerfile import expand_instruction, parse_triggers

    df = parse_dockerfile("FROM a\nONBUILD COPY <<EOF /cfg\nv=$V\nEOF\nONBUILD WORKDIR /$V\n")
    stored = [ins.expression for ins in df.stages[0].instructions]
    copy, workdir = parse_triggers(stored, "img:1")
    assert isinstance(copy, Copy) and copy.contents[0].data == "v=$V\n"
    assert expand_instruction(copy, {"V": "1"}).contents[0].data == "v=1\n"
    assert expand_instruction(workdir, {"V": "x"}).path == "/x"
    with pytest.raises(DockerfileError, match="ONBUILD trigger of img:1: FROM isn't allowed"):
        parse_triggers(["FROM x"], "img:1")
