"""Typed instructions: flag validation, forms and per-instruction rules."""

from __future__ import annotations

import pytest

from wharfie.dockerfile import DockerfileError, parse_dockerfile
from wharfie.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    parse_duration,
)


def instrs(body: str):
    return parse_dockerfile("FROM base\n" + body).stages[0].instructions


def one(body: str):
    (ins,) = instrs(body)
    return ins


def error(body: str) -> str:
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile("FROM base\n" + body, filename="Dockerfile.test")
    return info.value.message


@pytest.mark.parametrize(("body", "message"), [
    ("RNU echo", "Dockerfile.test:2: unknown instruction: RNU (did you mean RUN?)"),
    ("WROKDIR /", "did you mean WORKDIR?"),
    ("COPY --chwon=1 a b", "unknown flag: --chwon for COPY (did you mean --chown?)"),
    ("COPY --bogus a b", "unknown flag: --bogus for COPY"),
    ("ADD --from=x a b", "unknown flag: --from for ADD"),
    ("COPY --from a b", "missing a value on flag: --from"),
    ("COPY --from=a --from=b x y", "duplicate flag specified: --from"),
    ("COPY --link=maybe a b", "expecting boolean value for flag --link"),
    ("COPY --chmod=999 a b", "invalid chmod parameter"),
    ("ADD --checksum=md5:abc http://x/y /y", "invalid checksum"),
    ("RUN --network=bridge x", "unsupported network mode 'bridge'"),
    ("RUN --security=root x", "unsupported security mode"),
    ("RUN --mount=type=cahce,target=/x y", "unsupported mount type 'cahce' (did you mean cache?)"),
    ("RUN --mount=type=cache x", "requires a target"),
    ("RUN --mount=type=bind,target=/x,colour=red y", "unexpected key 'colour'"),
    ("HEALTHCHECK --interval=5x CMD a", "invalid duration"),
    ("HEALTHCHECK --retries=-1 CMD a", "--retries cannot be negative"),
    ("HEALTHCHECK --interval=10us CMD a", "cannot be less than 1ms"),
    ("HEALTHCHECK NONE extra", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CONNECT x", "Unknown type"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("COPY onlyone", "Destination could not be determined"),
    ("COPY <<EOF <<EOT\nx\nEOF\ny\nEOT", "cannot accept a heredoc as a destination"),
    ("SHELL bash -c", "SHELL requires the arguments to be in JSON form"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("EXPOSE 99999", "invalid port range"),
    ("STOPSIGNAL SIGBOGUS", "invalid signal: SIGBOGUS"),
    ("EXPOSE 80/icmp", "invalid port"),
    ("ENV =x", "ENV names can not be blank"),
    ("ARG =x", "ARG names can not be blank"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
])
def test_errors(body: str, message: str):
    assert message in error(body)


def test_from_variants():
    df = parse_dockerfile("FROM --platform=linux/arm64 img:1 as Builder\nFROM builder\n")
    f = df.stages[0].from_
    assert (f.base, f.stage_name, f.stage_name_raw, f.as_keyword, f.platform) == (
        "img:1", "builder", "Builder", "as", "linux/arm64")
    with pytest.raises(DockerfileError, match="either one or three arguments"):
        parse_dockerfile("FROM a b\n")
    with pytest.raises(DockerfileError, match="invalid name for build stage"):
        parse_dockerfile("FROM a AS 1st\n")


def test_run_forms_and_flags():
    r = one("RUN --mount=type=cache,target=/root/.cache,sharing=locked --network=none "
            "--security=insecure pip install x")
    assert isinstance(r, Run) and r.shell_form and r.command == ["pip install x"]
    assert r.mounts[0].type == "cache" and r.mounts[0].target == "/root/.cache"
    assert r.network == "none" and r.security == "insecure"
    r = one('RUN ["echo", "hi"]')
    assert not r.shell_form and r.command == ["echo", "hi"]


def test_cmd_entrypoint_shell():
    c, e, s = instrs('CMD echo hi\nENTRYPOINT ["/bin/app", "-v"]\nSHELL ["/bin/bash", "-c"]\n')
    assert isinstance(c, Cmd) and c.shell_form and c.command == ["echo hi"]
    assert isinstance(e, Entrypoint) and e.command == ["/bin/app", "-v"] and not e.shell_form
    assert isinstance(s, Shell) and s.shell == ["/bin/bash", "-c"]


def test_copy_and_add_flags():
    c = one("COPY --from=build --chown=app:app --chmod=0644 --link --parents "
            "--exclude=*.md --exclude=tmp a b /dst/")
    assert isinstance(c, Copy)
    assert (c.from_, c.chown, c.chmod, c.link, c.parents) == ("build", "app:app", "0644", True,
                                                             True)
    assert c.exclude == ["*.md", "tmp"] and c.sources == ["a", "b"] and c.dest == "/dst/"
    a = one("ADD --keep-git-dir=true --checksum=sha256:" + "a" * 64 + " https://x/y.tgz /y")
    assert isinstance(a, Add) and a.keep_git_dir and a.checksum == "sha256:" + "a" * 64
    assert one("COPY --chmod=u+x,g-w a b").chmod == "u+x,g-w"
    j = one('COPY ["a b", "/c d"]')
    assert j.sources == ["a b"] and j.dest == "/c d"


def test_copy_heredoc_becomes_inline_content():
    c = one("COPY <<-EOF /etc/conf\n\tkey=$V\n\tEOF")
    assert c.sources == [] and c.contents[0].data == "key=$V\n" and c.contents[0].expand


def test_env_label_arg():
    e, le, a, m = instrs('ENV A=1 B="two words"\nLABEL x=y\nARG V ARG2=def\nMAINTAINER me\n')
    assert isinstance(e, Env) and e.pairs == [("A", "1"), ("B", '"two words"')] and not e.legacy
    assert isinstance(le, Label) and le.pairs == [("x", "y")]
    assert isinstance(a, Arg) and a.args == [("V", None), ("ARG2", "def")]
    assert isinstance(m, Maintainer) and m.maintainer == "me"
    legacy = one("ENV PATH /usr/bin:/bin")
    assert legacy.legacy and legacy.pairs == [("PATH", "/usr/bin:/bin")]


def test_expose_user_volume_stopsignal():
    x, u, v, s = instrs("EXPOSE 80 53/udp 8000-8010/tcp\nUSER app:staff\nVOLUME /a /b\n"
                        "STOPSIGNAL SIGTERM\n")
    assert isinstance(x, Expose) and x.ports == ["80", "53/udp", "8000-8010/tcp"]
    assert isinstance(u, User) and u.user == "app:staff" and u.group == "staff"
    assert isinstance(v, Volume) and v.paths == ["/a", "/b"]
    assert isinstance(s, Stopsignal) and s.signal == "SIGTERM"


def test_healthcheck():
    h = one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0s "
            "--start-interval=500ms --retries=2 CMD curl -f http://localhost/")
    assert isinstance(h, Healthcheck)
    assert h.test == ["CMD-SHELL", "curl -f http://localhost/"]
    assert (h.interval, h.timeout, h.start_period, h.start_interval, h.retries) == (
        90.0, 3.0, 0.0, 0.5, 2)
    assert one('HEALTHCHECK CMD ["/bin/check"]').test == ["CMD", "/bin/check"]
    assert one("HEALTHCHECK NONE").test == ["NONE"]


def test_onbuild_trigger_is_typed():
    o = one("ONBUILD RUN make")
    assert isinstance(o, Onbuild) and o.expression == "RUN make"
    assert isinstance(o.trigger, Run) and o.trigger.command == ["make"]


def test_lines_are_carried():
    (r,) = parse_dockerfile("FROM a\n\nRUN a \\\n  b\n").stages[0].instructions
    assert (r.line, r.end_line) == (3, 4)


def test_parse_duration():
    assert parse_duration("1h2m3.5s") == 3723.5
    assert parse_duration("0") == 0.0
    with pytest.raises(DockerfileError):
        parse_duration("5")
