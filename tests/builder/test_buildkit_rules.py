"""BuildKit's rules that a differential run against docker build found wharfie breaking
(issue 14): each test is one minimal Dockerfile and what BuildKit makes of it."""

import io
import os
import tarfile

import pytest

from wharfie.builder.context import BuildContext
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.engine import Builder
from wharfie.builder.request import BuildRequest
from wharfie.layers.compression import open_uncompressed


def build(store, dockerfile, ctx=None, ignore=(), events=None, **kw):
    context = BuildContext(ctx, PatternMatcher(list(ignore))) if ctx else None
    builder = Builder(store.content.root, store,
                      emit=events.append if events is not None else None)
    result = builder.build(BuildRequest(dockerfile=dockerfile, context=context, **kw))
    return store.get(result.manifest_digest)


def tree(image):
    """{path: (TarInfo, bytes or None)} of the image, whiteouts applied."""
    out: dict = {}
    for layer in image.layers():
        with layer.open() as raw, tarfile.open(
                fileobj=open_uncompressed(raw, layer.media_type), mode="r|") as t:
            for m in t:
                name = os.path.normpath("/" + m.name).lstrip("/")
                head, _, base = name.rpartition("/")
                if base == ".wh..wh..opq":
                    out = {k: v for k, v in out.items() if not k.startswith(head + "/")}
                elif base.startswith(".wh."):
                    gone = (head + "/" if head else "") + base[4:]
                    out = {k: v for k, v in out.items()
                           if k != gone and not k.startswith(gone + "/")}
                else:
                    if not m.isdir():  # a file in place of a directory replaces it all
                        out = {k: v for k, v in out.items() if not k.startswith(name + "/")}
                    out[name] = (m, t.extractfile(m).read() if m.isfile() else None)
    return out


def owner(entry):
    return entry[0].uid, entry[0].gid


def test_from_scratch_has_workdir_root(store, tmp_path):
    (tmp_path / "f").write_text("x")
    image = build(store, "FROM scratch\nCOPY f /f\n", tmp_path)
    assert image.config.doc["config"]["WorkingDir"] == "/"


def test_workdir_keeps_trailing_slash_and_relative_is_cleaned(store):
    image = build(store, "FROM busybox:local\nWORKDIR /tmp/\n")
    assert image.config.doc["config"]["WorkingDir"] == "/tmp/"
    assert image.config.doc["history"][-1]["created_by"] == "WORKDIR /tmp/"
    image = build(store, "FROM busybox:local\nWORKDIR /a/\nWORKDIR b/../c/\n")
    assert image.config.doc["config"]["WorkingDir"] == "/a/c"


def test_workdir_makes_missing_parents_owned_by_user(store):
    image = build(store, "FROM busybox:local\nUSER 7:8\nWORKDIR /created/directory\n")
    files = tree(image)
    assert owner(files["created"]) == (7, 8)
    assert owner(files["created/directory"]) == (7, 8)
    assert files["created"][0].mode & 0o7777 == 0o755


def test_wildcard_matches_onto_a_file_destination_leave_the_last(store, tmp_path):
    (tmp_path / "a1.txt").write_text("one")
    (tmp_path / "a2.txt").write_text("two")
    files = tree(build(store, "FROM scratch\nCOPY a*.txt /dst\n", tmp_path))
    assert files["dst"][0].isfile() and files["dst"][1] == b"two"


def test_wildcard_with_no_match_beside_a_source_that_exists(store, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    files = tree(build(store, "FROM scratch\nCOPY a.txt nomatch* /dst/\n", tmp_path))
    assert files["dst/a.txt"][1] == b"a"
    # docker (20.10's BuildKit) builds even when no wildcard matches, and copies nothing
    assert tree(build(store, "FROM scratch\nCOPY nomatch* none* /dst/\n", tmp_path)) == {}
    with pytest.raises(Exception, match="not found"):  # a missing plain name still fails
        build(store, "FROM scratch\nCOPY a.txt missing.txt /dst/\n", tmp_path)


def test_wildcard_component_matching_a_file_is_dropped(store, tmp_path):
    (tmp_path / "Beach.txt").write_text("b")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "f.txt").write_text("f")
    files = tree(build(store, "FROM scratch\nCOPY */sub/*.txt /out/\n", tmp_path))
    assert files["out/f.txt"][1] == b"f"


def test_copy_chown_leaves_an_existing_destination_directory_alone(store, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_text("f")
    files = tree(build(store, "FROM scratch\nCOPY sub/ /sub/\n"
                       "COPY --chown=99:99 sub/ /sub/\nCOPY --chown=5:6 sub /new/deep/\n",
                       tmp_path))
    assert owner(files["sub"]) == (0, 0) and owner(files["sub/f"]) == (99, 99)
    # but what it creates, parents included, is the new owner's (BuildKit's MkdirAll)
    assert owner(files["new"]) == (5, 6) and owner(files["new/deep"]) == (5, 6)


def test_copy_from_stage_keeps_owners_and_hard_links(store):
    df = """FROM busybox:local AS a
RUN echo t > /t && chown 65:66 /t && mkdir /h && echo p > /h/p && ln /h/p /h/q
FROM scratch
COPY --from=a /t /t
COPY --from=a /h /h
"""
    image = build(store, df)
    files = tree(image)
    assert owner(files["t"]) == (65, 66)
    layer = list(image.layers())[-1]
    with layer.open() as raw, tarfile.open(
            fileobj=open_uncompressed(raw, layer.media_type), mode="r|") as t:
        kinds = {m.name: (m.type, m.linkname) for m in t}
    assert tarfile.LNKTYPE in {k for k, _ in kinds.values()}


def _tar(path, members):
    with tarfile.open(path, "w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def _info(name, kind=tarfile.REGTYPE, mode=0o644, data=b"", link=""):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.size, i.linkname = kind, mode, len(data), link
    return i, (data if kind == tarfile.REGTYPE else None)


def test_add_tar_keeps_modes_and_follows_links_inside(store, tmp_path):
    _tar(tmp_path / "t.tar", [_info("d/", tarfile.DIRTYPE, 0o775), _info("d/f", mode=0o4755),
                              _info("link", tarfile.SYMTYPE, link=".."),
                              _info("link/etc/f", data=b"x")])
    files = tree(build(store, "FROM scratch\nADD t.tar /sub\n", tmp_path))
    assert files["sub/d"][0].mode & 0o7777 == 0o775
    assert files["sub/d/f"][0].mode & 0o7777 == 0o4755
    assert files["sub/etc/f"][1] == b"x"


def test_add_tar_replaces_a_directory_with_a_file(store, tmp_path):
    _tar(tmp_path / "t.tar", [_info("d", data=b"file")])
    files = tree(build(store, "FROM busybox:local\nRUN mkdir /d && touch /d/x\nADD t.tar /\n",
                       tmp_path))
    assert files["d"][1] == b"file" and "d/x" not in files


def test_add_tar_skips_an_empty_member_name(store, tmp_path):
    _tar(tmp_path / "t.tar", [_info("", data=b"nothing"), _info("ok", data=b"ok")])
    files = tree(build(store, "FROM scratch\nADD t.tar /x/\n", tmp_path))
    assert files["x/ok"][1] == b"ok"


def test_a_file_destination_that_is_a_link_is_written_where_it_points(store, tmp_path):
    (tmp_path / "f").write_text("new")
    files = tree(build(store, "FROM busybox:local\nRUN echo x > /t && ln -s /t /lf && "
                       "ln -s /nowhere /dl\nCOPY f /lf\nCOPY f /dl\nCOPY f /n/.\n", tmp_path))
    assert files["lf"][0].issym() and files["t"][1] == b"new"
    assert files["dl"][0].issym() and files["nowhere"][1] == b"new"
    assert files["n"][1] == b"new"  # "/n/." is "/n": a file, not a directory


def test_add_tar_ignores_chown_and_keeps_the_archives_owners(store, tmp_path):
    _tar(tmp_path / "t.tar", [_info("f", data=b"f")])
    files = tree(build(store, "FROM scratch\nADD --chown=3:4 t.tar /x/\n", tmp_path))
    assert owner(files["x/f"]) == (0, 0) and owner(files["x"]) == (3, 4)


def test_destination_through_a_dangling_link_and_dotdot_is_cleaned_first(store, tmp_path):
    (tmp_path / "f").write_text("f")
    files = tree(build(store, "FROM busybox:local\nRUN ln -s /target/sub /link\n"
                       "COPY f /link/../\n", tmp_path))
    assert files["f"][1] == b"f" and "target" not in files


def test_cache_mounts_are_keyed_by_id_uid_gid_and_mode(store):
    df = """FROM busybox:local
RUN --mount=type=cache,target=/c,id=k touch /c/one
RUN --mount=type=cache,target=/c,id=k,uid=5 ls /c > /uid5 && stat -c %u /c >> /uid5
RUN --mount=type=cache,target=/c,id=k,mode=0700 ls /c > /m700
RUN --mount=type=cache,target=/c,id=k ls /c > /plain
"""
    files = tree(build(store, df))
    assert files["uid5"][1] == b"5\n" and files["m700"][1] == b""
    assert files["plain"][1] == b"one\n"


def test_run_layers_record_the_mount_point_directories(store):
    df = """FROM scratch
COPY --from=busybox:local /bin/busybox /bin/
RUN ["/bin/busybox", "touch", "/made"]
FROM busybox:local
RUN --mount=type=tmpfs,target=/tm/deep touch /tm/deep/x
"""
    files = tree(build(store, df, target="0"))
    assert {"dev", "proc", "sys", "made"} <= set(files)
    assert not any(k.startswith("etc/") for k in files)  # /etc/hosts and resolv.conf go
    files = tree(build(store, df))  # a RUN --mount's mount points stay, empty (dockerd 20.10)
    assert [k for k in files if k.split("/")[0] == "tm"] == ["tm", "tm/deep"]


def test_an_image_built_on_an_imported_base_has_buildkits_config_fields(store):
    doc = build(store, "FROM busybox:local\nENV Q=1\n").config.doc
    assert "comment" not in doc and "container_config" not in doc
    assert doc["config"]["OnBuild"] is None
    # the base has no PATH: BuildKit appends its default before the Dockerfile's ENV
    assert doc["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "Q=1"]
    assert build(store, "FROM scratch\n").config.doc["config"]["OnBuild"] is None


@pytest.mark.parametrize("ignore, dockerfile, expected, kept, dropped", [
    (["**", "!folder/file1"], "COPY folder /f1", {"f1", "f1/file1"},
     {"folder/file1"}, {"folder/file2", "top"}),
    (["sub", "!sub/a*"], "COPY sub /s", {"s", "s/a.txt"}, {"sub/a.txt"}, {"sub/b.txt"}),
    (["deep", "!deep/x/y.log"], "COPY deep /d", {"d", "d/x", "d/x/y.log"},
     {"deep/x/y.log"}, {"deep/x/z.log"}),
])
def test_dockerignore_exceptions_inside_an_excluded_directory(
        store, tmp_path, ignore, dockerfile, expected, kept, dropped):
    ctx = tmp_path / "ctx"  # not tmp_path: the store is in there
    for name in ("folder/file1", "folder/file2", "sub/a.txt", "sub/b.txt", "top",
                 "deep/x/y.log", "deep/x/z.log"):
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(name)
    files = tree(build(store, f"FROM scratch\n{dockerfile}\n", ctx, ignore))
    assert set(files) == expected
    whole = set(tree(build(store, "FROM scratch\nCOPY . /ctx\n", ctx, ignore)))
    assert {f"ctx/{k}" for k in kept} <= whole and not {f"ctx/{k}" for k in dropped} & whole


def test_from_a_stage_inherits_its_arg_values_but_not_into_the_config(store):
    df = """FROM busybox:local AS lower
ARG v="a b"
ARG D=/argdir
FROM lower
WORKDIR $D
RUN echo "upper:$v" > /out
"""
    image = build(store, df)
    files = tree(image)
    assert files["out"][1] == b"upper:a b\n" and files["argdir"][0].isdir()
    cfg = image.config.doc
    assert not any(e.startswith(("v=", "D=")) for e in cfg["config"]["Env"])
    assert cfg["history"][-1]["created_by"] == 'RUN /bin/sh -c echo "upper:$v" > /out # buildkit'


def test_arg_history_is_as_written_and_run_shows_the_values_in_force(store):
    df = "FROM busybox:local\nARG V=one\nARG W=$V-x\nENV W=env\nRUN true\n"
    history = build(store, df, build_args={"V": "two"}).config.doc["history"]
    assert [h["created_by"] for h in history[-4:]] == [
        "ARG V=one", "ARG W=two-x", "ENV W=env", "RUN |2 V=two W=env /bin/sh -c true # buildkit"]


def test_an_arg_without_a_value_shows_in_run_history_but_sets_nothing(store):
    df = "FROM busybox:local\nARG N\nRUN echo ${N-unset} > /n\n"
    image = build(store, df)
    assert tree(image)["n"][1] == b"unset\n"
    assert image.config.doc["history"][-1]["created_by"] == \
        "RUN |1 N= /bin/sh -c echo ${N-unset} > /n # buildkit"


def test_copy_history_names_sources_and_destination_without_flags(store, tmp_path):
    (tmp_path / "f").write_text("f")
    history = build(store, "FROM scratch\nCOPY --chown=1:2 --chmod=600 f /f\n",
                    tmp_path).config.doc["history"]
    assert history[-1]["created_by"] == "COPY f /f # buildkit"


def test_a_step_that_changes_nothing_still_records_a_layer(store):
    image = build(store, "FROM busybox:local\nWORKDIR /tmp\nRUN true\n")
    history = image.config.doc["history"]
    assert [h.get("empty_layer", False) for h in history[-2:]] == [False, False]
    assert len(image.config.doc["rootfs"]["diff_ids"]) == 3


def test_run_as_a_user_gets_only_the_groups_etc_group_gives(store):
    files = tree(build(store, "FROM busybox:local\nUSER app\nRUN id -G > /tmp/groups\n"))
    assert files["tmp/groups"][1] == b"1000\n"  # the primary gid; no supplementary copy
    files = tree(build(store, "FROM busybox:local\nRUN echo 'extra:x:5:app' >> /etc/group\n"
                       "USER app\nRUN cat /proc/self/status | grep ^Groups: > /tmp/g\n"))
    assert files["tmp/g"][1].split() == [b"Groups:", b"5"]


def test_workdir_path_is_cleaned_before_it_is_made(store):
    files = tree(build(store, "FROM busybox:local\nWORKDIR /a/../b\n"))
    assert "b" in files and "a" not in files


def test_a_directory_is_not_copied_through_a_symlink_in_the_destination(store, tmp_path):
    (tmp_path / "ctx" / "sub").mkdir(parents=True)
    (tmp_path / "ctx" / "sub" / "f").write_text("f")
    with pytest.raises(Exception, match="cannot copy to non-directory"):
        build(store, "FROM busybox:local\nRUN mkdir /t && ln -s /etc /t/sub\nCOPY . /t/\n",
              tmp_path / "ctx")
