"""The filtered build context: .dockerignore removes files before anything reads them, so
no symlink, COPY, bind mount or named context reaches an ignored file, and RUN steps that
mount the context are keyed by what they mount."""

import os
import subprocess
import sys

import pytest
from tests.builder.test_builder import build, files_of

from wharfie.builder.context import BuildContext, named_context
from wharfie.builder.context.dockerignore import load_for
from wharfie.builder.engine import Builder
from wharfie.builder.filecopy import CopyError
from wharfie.builder.mounts import MountError
from wharfie.builder.request import BuildRequest


@pytest.fixture
def linked(tmp_path):
    """A context whose secret is ignored, with links to itself and to the host's /etc."""
    d = tmp_path / "ctx"
    (d / "sub").mkdir(parents=True)
    (d / "app.txt").write_text("app\n")
    (d / "secret.txt").write_text("secret\n")
    (d / "sub" / "kept.txt").write_text("kept\n")
    (d / "sub" / "hidden.txt").write_text("hidden\n")
    (d / ".dockerignore").write_text("secret.txt\nsub/hidden.txt\n")
    os.symlink(".", d / "all")
    os.symlink("/etc", d / "out")
    os.symlink("secret.txt", d / "to-secret")
    return d


def build_in(store, df, ctxdir, events=None, **kw):  # noqa: F811
    """``build`` with the context's own .dockerignore."""
    builder = Builder(store.content.root, store, emit=(events.append if events is not None
                                                        else None))
    ctx = BuildContext(ctxdir, load_for(ctxdir))
    result = builder.build(BuildRequest(dockerfile=df, context=ctx, **kw))
    return store.get(result.manifest_digest), result


@pytest.mark.parametrize("source", ["all/secret.txt", "all/all/secret.txt", "to-secret",
                                    "all/sub/hidden.txt"])
def test_copy_reaches_no_ignored_file_through_a_symlink(store, linked, source):  # noqa: F811
    with pytest.raises(CopyError, match="not found"):
        build_in(store, f"FROM scratch\nCOPY {source} /x\n", linked)


def test_copy_of_a_linked_directory_holds_only_the_filtered_context(store, linked):  # noqa: F811
    image, _ = build_in(store, "FROM scratch\nCOPY all /all/\nCOPY all/app.txt /via-link\n",
                        linked)
    files = files_of(image)
    assert files["via-link"][0] == b"app\n" and files["all/sub/kept.txt"][0] == b"kept\n"
    assert "all/secret.txt" not in files and "all/sub/hidden.txt" not in files
    assert files["all/out"][1].issym() and files["all/out"][1].linkname == "/etc"
    for host_file in ("out/passwd", "all/out/passwd"):  # links out resolve in the context
        with pytest.raises(CopyError, match="not found"):
            build_in(store, f"FROM scratch\nCOPY {host_file} /x\n", linked)


def test_copy_from_a_named_context_is_filtered_by_its_own_dockerignore(store, linked):  # noqa: F811
    contexts = {"docs": named_context(f"docs={linked}")[1]}
    with pytest.raises(CopyError, match="not found"):
        build(store, "FROM scratch\nCOPY --from=docs all/secret.txt /x\n",
              named_contexts=contexts)
    image, _ = build(store, "FROM scratch\nCOPY --from=docs all/ /d/\n", named_contexts=contexts)
    files = files_of(image)
    assert "d/app.txt" in files and "d/secret.txt" not in files


LIST = "cd /ctx && find . | sort | tr '\\n' ' '"


def test_run_bind_mount_shows_exactly_the_filtered_context_read_only(store, linked):  # noqa: F811
    df = f"""FROM busybox:local
RUN --mount=type=bind,target=/ctx {LIST} > /seen && \\
    (cat /ctx/all/secret.txt || echo no-secret) > /through-link && \\
    (touch /ctx/new 2>/dev/null && echo writable || echo read-only) > /mode
RUN --mount=type=bind,source=sub,target=/ctx {LIST} > /sub
RUN --mount=type=bind,source=all/sub,target=/ctx,rw touch /ctx/new && {LIST} > /rw
"""
    image, _ = build_in(store, df, linked)
    files = files_of(image)
    assert files["seen"][0].decode().split() == [
        ".", "./.dockerignore", "./all", "./app.txt", "./out", "./sub", "./sub/kept.txt",
        "./to-secret"]
    assert files["through-link"][0] == b"no-secret\n" and files["mode"][0] == b"read-only\n"
    assert files["sub"][0].decode().split() == [".", "./kept.txt"]
    assert files["rw"][0].decode().split() == [".", "./kept.txt", "./new"]
    assert not (linked / "sub" / "new").exists()  # rw writes are discarded
    assert [n for n in files if n.startswith("ctx")] == ["ctx"]  # the empty mount point


def test_run_bind_mount_cannot_name_an_ignored_source(store, linked):  # noqa: F811
    for source in ("secret.txt", "all/secret.txt", "out/passwd"):
        with pytest.raises(MountError, match="not found"):
            build_in(store, f"FROM busybox:local\nRUN --mount=type=bind,source={source},"
                     "target=/s cat /s\n", linked)


def test_run_cache_key_holds_the_content_of_mounted_context_files(store, linked):  # noqa: F811
    df = ("FROM busybox:local\n"
          "RUN --mount=type=bind,target=/ctx cat /ctx/app.txt /ctx/sub/kept.txt > /seen\n")

    events = []

    def seen(expect_cached: bool) -> bytes:
        events.clear()
        image, _ = build_in(store, df, linked, events=events)
        assert any(e.kind == "cached" for e in events) == expect_cached
        return files_of(image)["seen"][0]

    assert seen(False) == b"app\nkept\n"
    (linked / "sub" / "kept.txt").write_text("changed\n")
    assert seen(False) == b"app\nchanged\n"
    assert any(e.text == "cache miss: files changed: sub/kept.txt" for e in events)
    os.utime(linked / "app.txt", (1, 1))  # a new mtime, the same content
    (linked / "secret.txt").write_text("an ignored file changed\n")
    assert seen(True) == b"app\nchanged\n"


def test_run_cache_key_holds_the_content_of_a_mounted_stage(store):  # noqa: F811
    df = """FROM busybox:local AS tools
ARG V
RUN echo $V > /m.txt
FROM busybox:local
RUN --mount=type=bind,from=tools,source=/m.txt,target=/m.txt cat /m.txt > /seen
"""
    first, _ = build(store, df, build_args={"V": "one"})
    second, _ = build(store, df, build_args={"V": "two"})
    assert files_of(first)["seen"][0] == b"one\n" and files_of(second)["seen"][0] == b"two\n"


def test_cli_build_of_dot_mounts_the_context_not_the_runtime_bundle(wharfie, root, linked,
                                                                    busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    (linked / "Dockerfile").write_text(
        "FROM busybox:local\nRUN --mount=type=bind,target=/ctx ls -A /ctx > /seen\n"
        "RUN --mount=type=bind,target=/ctx cat /ctx/app.txt >> /seen\n")
    out = linked.parent / "out"
    res = subprocess.run([sys.executable, "-m", "wharfie", "build", "-o",
                          f"type=local,dest={out}", "."], cwd=linked, capture_output=True,
                         env={**os.environ, "WHARFIE_ROOT": str(root)})
    assert res.returncode == 0, res.stderr.decode()
    assert (out / "seen").read_text().split() == [
        ".dockerignore", "Dockerfile", "all", "app.txt", "out", "sub", "to-secret", "app"]
