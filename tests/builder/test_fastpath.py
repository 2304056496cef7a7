"""The no-change fast path of ``wharfie.builder.build`` (issue 18): a rebuild with nothing
changed is answered from the memo (a progress event says so), and every kind of change
goes the full way and gives what the full build gives (``pipeline.build`` on the same
store, which has no fast path). Real builds: RUN steps in runc."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest
from tests.test_import_budget import modules_after

from wharfie.builder import BuildOptions, build, fastpath
from wharfie.builder.fastpath import FAST_PATH_TEXT, Invocation, _Inputs
from wharfie.builder.pipeline import build as full_build
from wharfie.oci.platform import host_platform
from wharfie.oci.reference import parse_reference

DOCKERFILE = """\
FROM busybox:local AS tools
RUN echo tools > /tools
FROM busybox:local
ARG V=1
COPY app/ /app/
RUN --mount=type=secret,id=s,required=false cat /app/*.txt > /all && echo $V > /v
"""


@pytest.fixture
def ctx(tmp_path):
    d = tmp_path / "ctx"
    (d / "app").mkdir(parents=True)
    (d / "app" / "a.txt").write_text("alpha\n")
    (d / "app" / "b.txt").write_text("bravo\n")
    (d / "Dockerfile").write_text(DOCKERFILE)
    return d


def fast_build(store, options):
    """(image ID, whether the fast path answered)."""
    events = []
    result = build(store, options, emit=events.append)
    return result.image_id, any(e.text == FAST_PATH_TEXT for e in events)


def options_for(ctx, **kw) -> BuildOptions:
    return BuildOptions(context=str(ctx), tags=["app:1"], network="none", **kw)


def test_a_no_change_rebuild_takes_the_fast_path_and_tags(store, ctx):
    options = options_for(ctx)
    first, fast = fast_build(store, options)
    assert not fast
    options.tags = ["app:1", "app:2"]
    again, fast = fast_build(store, options)
    assert fast and again == first
    assert store.resolve("app:2").id == first
    assert full_build(store, options).image_id == first  # the full path agrees


def _edit_content_same_size_and_mtime(store, ctx, options):
    f = ctx / "app" / "a.txt"
    st = f.stat()
    f.write_text("ALPHA\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def _retag_base(store, ctx, options):
    other = full_build(store, BuildOptions(dockerfile_text="FROM busybox:local\n"
                                           "RUN echo other > /other\n", network="none"))
    store.tag(parse_reference("busybox:local"), other.manifest_digest)


def _secret(store, ctx, options):
    (ctx.parent / "s.txt").write_text("hush\n")
    options.secrets = [f"id=s,src={ctx.parent / 's.txt'}"]


def _prune_cache(store, ctx, options):
    from wharfie.builder import prune_cache

    prune_cache(store, everything=True)


CHANGES = {
    "dockerfile-byte": lambda s, c, o: (c / "Dockerfile").write_text(
        DOCKERFILE.replace("> /all", "> /All")),
    "build-arg": lambda s, c, o: o.build_args.update(V="2"),
    "context-content": _edit_content_same_size_and_mtime,
    "context-new-file": lambda s, c, o: (c / "app" / "c.txt").write_text("charlie\n"),
    "base-retag": _retag_base,
    "dockerignore": lambda s, c, o: (c / ".dockerignore").write_text("app/b.txt\n"),
    "target": lambda s, c, o: setattr(o, "target", "tools"),
    "platform": lambda s, c, o: setattr(o, "platform", str(host_platform())),
    "secret": _secret,
    "network": lambda s, c, o: setattr(o, "network", "default"),
    "cache-pruned": _prune_cache,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_takes_the_full_path_and_agrees_with_it(store, ctx, change):
    options = options_for(ctx)
    before, _ = fast_build(store, options)
    assert fast_build(store, options) == (before, True)
    CHANGES[change](store, ctx, options)
    after, fast = fast_build(store, options)
    assert not fast
    assert full_build(store, options).image_id == after
    assert store.resolve("app:1").id == after
    if change not in ("platform", "network", "secret", "cache-pruned"):
        assert after != before  # the change reached the image: the fast path was wrong to reuse


ENGINE = {"wharfie.builder.engine", "wharfie.builder.job", "wharfie.builder.pipeline",
          "wharfie.builder.steps", "wharfie.dockerfile", "wharfie.snapshots",
          "wharfie.runtime", "wharfie.layers", "urllib3", "wharfie.builder.cache.transfer",
          "traceback"}


def wharfie(root, *args, **env):
    """``wharfie ARGS`` on ``root`` as a user runs it: (stdout, stderr)."""
    res = subprocess.run([sys.executable, "-m", "wharfie", *args], capture_output=True,
                         text=True, check=True,
                         env={**os.environ, "WHARFIE_ROOT": str(root), **env})
    return res.stdout, res.stderr


def test_the_cli_prints_the_same_id_on_the_fast_path_without_loading_the_engine(store, ctx, root):
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    args = ["build", "-q", "--network", "none", "-t", "app:1", str(ctx)]
    first, _ = wharfie(root, *args)
    _, plain = wharfie(root, *args[:1], "--progress", "plain", *args[2:])
    imported, again = modules_after(root.parent, *args, env=env)
    assert FAST_PATH_TEXT in plain
    assert first == again and first.startswith("sha256:")
    assert "wharfie.builder.fastpath" in imported
    # the same command line again is answered before click and the command group load
    assert imported & {*ENGINE, "click", "wharfie.cli.group", "wharfie.cli.build"} == set()


def test_a_command_line_answered_before_the_cli_loads_shows_and_tags_what_the_cli_would(
        store, ctx, root):
    args = ["build", "--progress", "plain", "--network", "none", "-t", "app:1", "-t", "app:2",
            str(ctx)]
    wharfie(root, *args[:1], "-q", *args[3:])  # built; this command line is new below
    by_the_cli = wharfie(root, *args)
    store.untag(parse_reference("app:1"))
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    imported, _ = modules_after(root.parent, *args, env=env)
    assert "click" not in imported  # answered early
    assert wharfie(root, *args) == by_the_cli  # the same steps and export
    assert FAST_PATH_TEXT in by_the_cli[1]
    assert store.resolve("app:1").id == store.resolve("app:2").id  # tagged again


def test_a_recalled_command_line_whose_source_changed_builds_before_the_cli_loads(
        store, ctx, root):
    """A source edited since the command line last ran: its build runs with the options
    that command line gave then, before click, the command group and the API client load,
    and shows and makes what the CLI would."""
    args = ["build", "--progress", "plain", "--network", "none", "--build-arg", "V=7",
            "-t", "app:1", str(ctx)]
    wharfie(root, *args)
    (ctx / "app" / "a.txt").write_text("edited\n")
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    imported, _ = modules_after(root.parent, *args, env=env)
    assert imported & {"click", "wharfie.cli.group", "wharfie.cli.build", "wharfie.api",
                       "concurrent.futures"} == set()
    assert "wharfie.builder.engine" in imported  # it did build
    made = store.resolve("app:1")
    by_the_cli = full_build(store, options_for(ctx, build_args={"V": "7"}))
    assert made.id == by_the_cli.image_id  # the same options: the same image
    (ctx / "app" / "b.txt").write_text("edited again\n")
    _, early = wharfie(root, *args)
    (ctx / "app" / "b.txt").write_text("edited once more\n")
    _, late = wharfie(root, "--debug", *args)  # not recalled: click's way
    assert _steps(early) == _steps(late)
    assert "cache miss: files changed: app/b.txt" in early and "[fast path]" not in early


def _steps(progress: str) -> list[str]:
    """The progress lines that name steps and how they ended, without times and IDs."""
    return [re.sub(r"\d+\.\d+s|sha256:[0-9a-f]+", "", line) for line in progress.splitlines()
            if line.startswith("#") and ("DONE" in line or "CACHED" in line or "[" in line)]


def test_an_invocation_keeps_the_options_it_was_built_with(store, ctx):
    """What ``cli.rebuild`` builds with when a source changed is what the command line
    gave: every option, as it was."""
    options = options_for(ctx, build_args={"V": "3 4"}, labels={"a": "1"},
                          add_hosts=["db:10.0.0.2"], shm_size="128m", compression="zstd",
                          epoch=1_700_000_000, explain_cache=True, jobs=1,
                          platform="linux/amd64")
    options.context = ctx  # a Path, as the library allows
    build(store, options, invocation=Invocation("cmd", {"quiet": True}))
    recalled = Invocation.recall(store.root, "cmd").options()
    assert recalled == dataclasses.replace(options, context=str(ctx))
    assert Invocation("new").options() is None  # nothing recalled, nothing to build with


def test_a_command_line_names_its_environment_too(store, ctx, root):
    """``--build-arg V`` takes V from the environment: the same command line with another
    V is another build."""
    args = ["build", "-q", "--network", "none", "--build-arg", "V", "-t", "app:1", str(ctx)]
    one, _ = wharfie(root, *args, V="1")
    assert wharfie(root, *args, V="1")[0] == one
    two, _ = wharfie(root, *args, V="2")
    assert two != one
    assert full_build(store, options_for(ctx, build_args={"V": "2"})).image_id == two.strip()


def test_a_file_changed_while_the_build_runs_is_not_vouched_for(store, ctx):
    """The memo holds the context as it was before the build read it: a file written after
    COPY read it (here: as the next step starts) sends the next build the full way."""
    options = options_for(ctx)

    def change_after_copy(event) -> None:
        if event.kind == "step" and "RUN cat" in event.text and \
                (ctx / "app" / "a.txt").read_text() == "alpha\n":
            (ctx / "app" / "a.txt").write_text("changed during the build\n")

    raced = build(store, options, emit=change_after_copy).image_id
    after, fast = fast_build(store, options)
    assert not fast and after != raced
    assert full_build(store, options).image_id == after


def test_a_build_the_memo_cannot_answer_walks_its_context_once(store, ctx, monkeypatch):
    """Checking the memo signs the context; the full build that follows keeps that
    signature instead of walking the context again (in a big context, a walk is costly)."""
    options = options_for(ctx)
    fast_build(store, options)
    (ctx / "app" / "a.txt").write_text("changed\n")
    walks = []
    walk = fastpath.context_signature
    monkeypatch.setattr(fastpath, "context_signature", lambda c: walks.append(c) or walk(c))
    _, fast = fast_build(store, options)
    assert not fast and walks == [ctx]
    assert fast_build(store, options)[1]  # the signature it kept vouches for the next build


def test_a_recalled_command_line_that_misses_walks_its_context_once(store, ctx, monkeypatch):
    """The CLI recalls a command line and checks its memo before click loads; when that
    misses, the full build keeps the signature the check took (cli/main.py's order)."""
    options = options_for(ctx)
    build(store, options, invocation=Invocation("cmd", {"quiet": True}))
    (ctx / "app" / "a.txt").write_text("changed\n")
    walks = []
    walk = fastpath.context_signature
    monkeypatch.setattr(fastpath, "context_signature", lambda c: walks.append(c) or walk(c))
    invocation = Invocation.recall(store.root, "cmd")
    assert invocation.rebuild(store) is None  # the change is seen
    changed = build(store, options, invocation=invocation).image_id
    assert walks == [ctx]
    assert Invocation.recall(store.root, "cmd").rebuild(store).image_id == changed


def test_an_option_the_fast_path_does_not_know_sends_the_build_the_full_way(store, ctx):
    """A BuildOptions field added later (here: made up) may do work after the build that
    the memo cannot redo: set, it is a doubt."""
    options = options_for(ctx)
    fast_build(store, options)
    assert fast_build(store, options)[1]
    extended = dataclasses.make_dataclass("Extended", [("attach", bool, False)],
                                          bases=(BuildOptions,))
    more = extended(**dataclasses.asdict(options), attach=True)
    assert not _Inputs.of(store.root, more)
    assert _Inputs.of(store.root, extended(**dataclasses.asdict(options)))


def test_memos_are_kept_to_the_newest_of_each_kind(store, ctx, monkeypatch):
    """A command line's memo is named by its environment too (a CI job's ID changes it):
    only the newest are kept, and never at the cost of the build memos."""
    monkeypatch.setattr(fastpath, "MEMOS", 3)
    options = options_for(ctx)
    for n in range(6):
        build(store, options, invocation=Invocation(f"job{n}", {"quiet": True}))
    commands = store.root / fastpath.MEMO_DIR / "commands"
    assert sorted(p.stem for p in commands.iterdir()) == ["job3", "job4", "job5"]
    assert Invocation.recall(store.root, "job5").rebuild(store) is not None
    assert Invocation.recall(store.root, "job0") is None
    options.build_args = {"V": "2"}
    assert not fast_build(store, options)[1]  # another build memo beside the first
    assert len(list((store.root / fastpath.MEMO_DIR).glob("*.json"))) == 2


@pytest.mark.parametrize("left", [b"", b"\0" * 300, b'{"context": "'], ids=["empty", "zeros", "cut"])
def test_a_memo_a_crash_left_unreadable_is_a_miss_and_is_written_again(store, ctx, left):
    """Memos are written without waiting for the disk: after a crash one may be empty, zeros
    or cut short. The build then takes the full path, agrees with it, and mends the memo."""
    options = options_for(ctx)
    first, _ = fast_build(store, options)
    memos = list((store.root / fastpath.MEMO_DIR).glob("*.json"))
    assert memos
    for memo in memos:
        memo.write_bytes(left)
    assert fast_build(store, options) == (first, False)
    assert fast_build(store, options) == (first, True)

