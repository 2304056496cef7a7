"""Real builds: RUN in runc over the snapshotter, COPY from a context, the cache, stages."""

import json
import os
import tarfile
import time

import pytest

from wharfie.builder.cache.transfer import CacheSpec
from wharfie.builder.context import BuildContext, named_context
from wharfie.builder.context.dockerignore import PatternMatcher
from wharfie.builder.engine import Builder
from wharfie.builder.filecopy import CopyError
from wharfie.builder.mounts import Secret
from wharfie.builder.request import BuildRequest
from wharfie.builder.result import BuildError
from wharfie.errors import NotFound, WharfieError
from wharfie.images.imagestore import ImageStore
from wharfie.layers.compression import open_uncompressed
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.registry.client import RegistryOptions
from wharfie.transports.registry.destination import RegistryDestination


@pytest.fixture
def ctxdir(tmp_path):
    d = tmp_path / "ctx"
    d.mkdir()
    (d / "app.txt").write_text("payload\n")
    (d / "notes.md").write_text("ignored\n")
    return d


def build(store, dockerfile, ctxdir=None, events=None, **kw):
    ctx = BuildContext(ctxdir, PatternMatcher(["*.md"])) if ctxdir else None
    builder = Builder(store.content.root, store, emit=(events.append if events is not None
                                                        else None))
    result = builder.build(BuildRequest(dockerfile=dockerfile, context=ctx, **kw))
    return store.get(result.manifest_digest), result


def files_of(image):
    """{path: bytes-or-None} over all layers, later layers winning (no whiteouts needed here)."""
    out = {}
    for layer in image.layers():
        with layer.open() as raw, tarfile.open(
                fileobj=open_uncompressed(raw, layer.media_type), mode="r|") as t:
            for m in t:
                out[m.name] = (t.extractfile(m).read() if m.isfile() else None, m)
    return out


def test_run_copy_env_workdir_and_history(store, ctxdir):
    df = """FROM busybox:local
ARG WHO=world
ENV GREETING=hello
WORKDIR /app
COPY app.txt .
RUN echo "$GREETING $WHO $(id -u)" > out.txt && cat app.txt >> out.txt
USER app
CMD ["cat", "/app/out.txt"]
"""
    image, _ = build(store, df, ctxdir, build_args={"WHO": "wharfie"})
    files = files_of(image)
    assert files["app/out.txt"][0] == b"hello wharfie 0\npayload\n"
    assert files["app/app.txt"][1].uid == 0
    cfg = image.config.doc
    assert cfg["config"]["WorkingDir"] == "/app" and cfg["config"]["User"] == "app"
    assert cfg["config"]["Cmd"] == ["cat", "/app/out.txt"]
    assert "GREETING=hello" in cfg["config"]["Env"]
    by = [h["created_by"] for h in cfg["history"] if "created_by" in h]
    assert by[-5:] == ["WORKDIR /app", "COPY app.txt . # buildkit",
                       'RUN |1 WHO=wharfie /bin/sh -c echo "$GREETING $WHO $(id -u)" > out.txt '
                       "&& cat app.txt >> out.txt # buildkit",
                       "USER app", 'CMD ["cat" "/app/out.txt"]']
    assert len(cfg["rootfs"]["diff_ids"]) == len(image.manifest.layers) == 4


def test_second_build_is_fully_cached_and_identical(store, ctxdir):
    df = "FROM busybox:local\nCOPY app.txt /\nRUN echo $RANDOM > /rand\n"
    first, _ = build(store, df, ctxdir)
    events = []
    second, _ = build(store, df, ctxdir, events=events)
    assert second.digest == first.digest
    assert [e.kind for e in events].count("cached") == 2
    (ctxdir / "app.txt").write_text("changed\n")
    third, _ = build(store, df, ctxdir)
    assert third.id != first.id
    assert files_of(third)["app.txt"][0] == b"changed\n"
    fourth, _ = build(store, df, ctxdir, no_cache=True)
    assert fourth.id != third.id  # RUN ran again: a new history time, a new image


def test_ignored_files_are_not_in_the_context(store, ctxdir):
    with pytest.raises(Exception, match="not found"):
        build(store, "FROM busybox:local\nCOPY notes.md /\n", ctxdir)


def test_failing_run_reports_command_exit_code_and_output(store):
    with pytest.raises(BuildError) as err:
        build(store, "FROM busybox:local\nRUN echo about to fail && exit 3\n")
    msg = str(err.value)
    assert 'process "/bin/sh -c echo about to fail && exit 3"' in msg
    assert "exit code: 3" in msg and "about to fail" in msg


def test_multi_stage_copy_from_and_target_pruning(store):
    df = """FROM busybox:local AS builder
RUN mkdir /out && echo compiled > /out/bin
FROM busybox:local AS unused
RUN exit 1
FROM scratch
COPY --from=builder /out/bin /bin/tool
"""
    image, _ = build(store, df)
    assert files_of(image)["bin/tool"][0] == b"compiled\n"
    assert len(image.manifest.layers) == 1


def test_heredocs_secrets_and_cache_mounts(store):
    df = """FROM busybox:local
RUN --mount=type=secret,id=token cat /run/secrets/token > /seen
RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count
COPY <<EOF /greeting
hi $HOSTNAME
hi $HOSTNAME
EOF
RUN <<EOF
echo from heredoc > /h
EOF
"""
    secret = Secret("token", b"s3cr3t")
    image, _ = build(store, df, secrets=[secret])
    files = files_of(image)
    assert files["seen"][0] == b"s3cr3t"
    # the secret's mount point directory stays, empty, as dockerd 20.10 leaves it
    assert [n for n in files if n.startswith("run/secrets")] == ["run/secrets"]
    assert files["greeting"][0].startswith(b"hi ")
    assert files["h"][0] == b"from heredoc\n"
    assert files["count"][0].strip() == b"1"
    again, _ = build(store, df.replace("wc -l", "wc  -l"), secrets=[secret])
    assert files_of(again)["count"][0].strip() == b"2"  # the cache mount persisted


def test_tmpfs_mount_is_a_sized_tmpfs_and_never_reaches_a_layer(store):
    df = """FROM busybox:local
RUN --mount=type=tmpfs,target=/scratch,size=1m grep ' /scratch ' /proc/mounts > /mounts && \
    echo x > /scratch/f && { dd if=/dev/zero of=/scratch/big bs=1k count=2048 || echo full > /dd; }
"""
    files = files_of(build(store, df)[0])
    mounts = files["mounts"][0].decode()
    assert mounts.startswith("tmpfs /scratch tmpfs ") and "nosuid" in mounts and "size=1024k" in mounts
    assert files["dd"][0] == b"full\n"  # the size limit holds
    assert [n for n in files if n.startswith("scratch")] == ["scratch"]  # an empty mount point


def test_onbuild_triggers_run_in_the_child(store):
    parent, _ = build(store, "FROM busybox:local\nONBUILD RUN echo triggered > /t\n",
                      tags=["parent:1"])
    assert parent.config.config["OnBuild"] == ["RUN echo triggered > /t"]
    child, _ = build(store, "FROM parent:1\nRUN cat /t > /copy\n")
    assert files_of(child)["copy"][0] == b"triggered\n"
    assert child.config.config["OnBuild"] is None  # not inherited; BuildKit writes null


def test_a_build_records_its_image_with_its_tags_in_one_write(store):
    """The image and every ``-t`` land in one transaction: index.json is written once."""
    writes = []
    real = store.content.write_index
    store.content.write_index = lambda entries: (writes.append(entries), real(entries))[1]
    _, result = build(store, "FROM busybox:local\nRUN echo hi > /hi\n", tags=["app:1", "app:2"])
    assert len(writes) == 1
    assert {str(store.resolve(t).digest) for t in ("app:1", "app:2")} == \
        {str(result.manifest_digest)}


def test_reproducible_with_source_date_epoch(store, ctxdir):
    df = "FROM busybox:local\nCOPY app.txt /\nRUN touch /stamp\n"
    a, _ = build(store, df, ctxdir, epoch=1_700_000_000, no_cache=True)
    b, _ = build(store, df, ctxdir, epoch=1_700_000_000, no_cache=True)
    assert a.manifest.layers == b.manifest.layers and a.id == b.id  # RUN re-ran: mtimes clamped
    assert json.loads(a.config.raw)["created"] == "2023-11-14T22:13:20Z"


def test_missing_base_is_pulled_from_a_registry(store, docker_registry, tmp_path):
    host = docker_registry
    ref = parse_reference(f"{host}/base/busybox:1")
    registry = RegistryOptions().registry(host)
    copy_image(store.resolve("busybox:local"), RegistryDestination(registry, ref.path), ref)
    fresh = ImageStore(tmp_path / "fresh-root")
    events = []
    image, _ = build(fresh, f"FROM {host}/base/busybox:1\nRUN echo pulled > /p\n", events=events)
    assert files_of(image)["p"][0] == b"pulled\n"
    assert any("load metadata" in e.text for e in events if e.kind == "step")
    assert fresh.resolve(f"{host}/base/busybox:1").id == store.resolve("busybox:local").id
    with pytest.raises(NotFound, match="pulling it failed"):
        build(fresh, f"FROM {host}/base/nosuch:1\nRUN true\n")


def test_cache_miss_is_explained_with_the_changed_file(store, ctxdir):
    df = "FROM busybox:local\nCOPY . /src\nRUN ls /src > /list\n"
    build(store, df, ctxdir)
    (ctxdir / "app.txt").write_text("new content\n")
    events = []
    build(store, df, ctxdir, events=events)
    explained = [e.text for e in events if e.kind == "explain"]
    assert explained == ["cache miss: files changed: app.txt"]


def test_chmod_makes_the_cache_key_independent_of_source_modes(store, ctxdir):
    df = "FROM busybox:local\nCOPY --chmod=0640 app.txt /a\n"
    first, _ = build(store, df, ctxdir)
    os.chmod(ctxdir / "app.txt", 0o600)  # another machine's umask
    events = []
    second, _ = build(store, df, ctxdir, events=events)
    assert "cached" in [e.kind for e in events] and second.digest == first.digest
    assert files_of(second)["a"][1].mode == 0o640


def test_independent_stages_overlap_in_time(store, tmp_path):
    df = """FROM busybox:local AS a
RUN cut -d" " -f1 /proc/uptime > /start && sleep 1.5 && cut -d" " -f1 /proc/uptime > /end
FROM busybox:local AS b
RUN cut -d" " -f1 /proc/uptime > /start && sleep 1.5 && cut -d" " -f1 /proc/uptime > /end
FROM scratch
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
"""
    image, _ = build(store, df, jobs=2)
    f = {k: float(v[0]) for k, v in files_of(image).items()}
    assert f["a.start"] < f["b.end"] and f["b.start"] < f["a.end"]  # the runs overlapped


def test_cache_export_and_import_between_stores(store, ctxdir, tmp_path):
    df = "FROM busybox:local\nCOPY app.txt /\nRUN echo slow > /result\n"
    first, _ = build(store, df, ctxdir, cache_to=CacheSpec("local", str(tmp_path / "cache")))
    assert (tmp_path / "cache" / "index.json").is_file()
    other = ImageStore(tmp_path / "other-root")  # another machine, same base image
    ref = parse_reference("busybox:local")
    copy_image(store.resolve("busybox:local"), other.destination(), ref)
    events = []
    second, _ = build(other, df, ctxdir, events=events,
                      cache_from=[CacheSpec("local", str(tmp_path / "cache"))])
    assert [e.kind for e in events].count("cached") == 2
    assert second.digest == first.digest


def test_cache_from_a_bad_directory_is_a_clear_error(store, tmp_path):
    with pytest.raises(WharfieError, match="not a cache directory"):
        build(store, "FROM busybox:local\n", cache_from=[CacheSpec("local", str(tmp_path))])


@pytest.fixture
def http_file(tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "www"
    served.mkdir()
    (served / "tool.txt").write_bytes(b"downloaded\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tool.txt"
    server.shutdown()


def test_add_url_with_checksum(store, http_file):
    import hashlib

    good = "sha256:" + hashlib.sha256(b"downloaded\n").hexdigest()
    image, _ = build(store, f"FROM busybox:local\nADD --checksum={good} {http_file} /opt/\n")
    data, member = files_of(image)["opt/tool.txt"]
    assert data == b"downloaded\n" and member.mode == 0o600
    bad = "sha256:" + "0" * 64
    with pytest.raises(WharfieError, match="checksum mismatch"):
        build(store, f"FROM busybox:local\nADD --checksum={bad} {http_file} /opt/\n")


def test_cache_through_a_registry(store, ctxdir, tmp_path, docker_registry):
    df = "FROM busybox:local\nCOPY app.txt /\nRUN echo slow > /result\n"
    spec = CacheSpec("registry", f"{docker_registry}/cache/app:buildcache")
    cold, _ = build(store, df, ctxdir, cache_from=[spec], cache_to=spec)  # nothing there yet
    other = ImageStore(tmp_path / "machine-2")
    copy_image(store.resolve("busybox:local"), other.destination(),
               parse_reference("busybox:local"))
    events = []
    warm, _ = build(other, df, ctxdir, events=events, cache_from=[spec])
    assert [e.kind for e in events].count("cached") == 2 and warm.digest == cold.digest



def test_copy_from_an_image_and_run_mount_from_a_stage(store):
    df = """FROM busybox:local AS tools
RUN echo tool > /tool.txt
FROM scratch
COPY --from=busybox:local /etc/passwd /passwd
COPY --from=tools /tool.txt /tool.txt
"""
    image, _ = build(store, df)
    files = files_of(image)
    assert files["passwd"][0].startswith(b"root:x:0:0")
    assert files["tool.txt"][0] == b"tool\n"
    df2 = """FROM busybox:local AS tools
RUN echo mounted > /m.txt
FROM busybox:local
RUN --mount=type=bind,from=tools,source=/m.txt,target=/mnt/m.txt cat /mnt/m.txt > /seen
"""
    image2, _ = build(store, df2)
    files2 = files_of(image2)
    assert files2["seen"][0] == b"mounted\n"
    assert not any(n.startswith("mnt/m.txt") for n in files2)


def test_platform_mismatch_and_unknown_chown_user(store, ctxdir):
    with pytest.raises(BuildError, match="local image is for linux/amd64"):
        build(store, "FROM busybox:local\nRUN true\n", platform="linux/s390x")
    with pytest.raises(CopyError, match="--chown=nobody-here"):
        build(store, "FROM busybox:local\nCOPY --chown=nobody-here app.txt /\n", ctxdir)


def test_run_layer_holds_only_what_the_command_changed(store):
    image, _ = build(store, "FROM busybox:local\nRUN echo x > /x\n")
    top = image.layers()[-1]
    with top.open() as raw, tarfile.open(
            fileobj=open_uncompressed(raw, top.media_type), mode="r|") as t:
        assert [m.name for m in t] == ["x"]  # no /etc from runc's mount points


def test_a_failing_stage_stops_its_siblings(store):
    df = """FROM busybox:local AS slow
RUN sleep 120
RUN echo never > /never
FROM busybox:local AS bad
RUN exit 4
FROM scratch
COPY --from=slow /never /never
COPY --from=bad /etc/passwd /passwd
"""
    events = []
    started = time.monotonic()
    with pytest.raises(BuildError, match="exit code: 4"):
        build(store, df, events=events, jobs=2)
    assert time.monotonic() - started < 60  # the running sleep was killed, not waited for
    assert not any("echo never" in e.text for e in events if e.kind == "step")
    assert not list((store.content.root / "runtime" / "bundles").iterdir())


def test_named_build_contexts_shadow_stages_and_images(store, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.txt").write_text("guide\n")
    (docs / "draft.txt").write_text("draft\n")
    (docs / ".dockerignore").write_text("draft.txt\n")
    df = """FROM scratch AS docs
COPY --from=busybox:local /bin/busybox /never
FROM base
COPY --from=docs / /docs/
RUN --mount=type=bind,from=docs,target=/mnt cat /mnt/guide.txt > /seen
"""
    contexts = {"docs": named_context(f"docs={docs}")[1],
                "base": named_context("base=docker-image://busybox:local")[1]}
    image, _ = build(store, df, named_contexts=contexts)
    files = files_of(image)
    assert files["docs/guide.txt"][0] == b"guide\n" and files["seen"][0] == b"guide\n"
    assert "docs/draft.txt" not in files  # the named context's own .dockerignore
    assert "never" not in files  # the stage "docs" was shadowed, so never built
    busybox = store.get(store.resolve("busybox:local").digest)
    assert image.layers()[0].diff_id == busybox.layers()[0].diff_id  # FROM base: the image
    (docs / "guide.txt").write_text("changed\n")
    events = []
    build(store, df, events=events, named_contexts=contexts)
    assert any(e.text == "cache miss: files changed: guide.txt" for e in events)


def test_named_context_errors(store, tmp_path):
    with pytest.raises(WharfieError, match="not a directory"):
        named_context(f"x={tmp_path / 'missing'}")
    with pytest.raises(WharfieError, match="only local directories and docker-image"):
        named_context("x=https://example.invalid/repo.git")
    with pytest.raises(WharfieError, match="want NAME=PATH"):
        named_context("novalue")
    with pytest.raises(WharfieError, match="directory build context serves COPY"):
        build(store, "FROM src\n", named_contexts={"src": named_context(f"src={tmp_path}")[1]})
