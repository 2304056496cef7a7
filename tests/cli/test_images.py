"""The image commands end to end: the real CLI in a subprocess, on a store built in-process."""

import json
import os
import time

import pytest

from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import parse_reference
from wharfie.testing.random import add_image, image, tar_layer


@pytest.fixture
def store(root):
    return ImageStore(root)


@pytest.fixture
def sample(store, busybox_rootfs_tar):
    """busybox (3 names, a label) and app (busybox + one layer), plus one dangling image."""
    base = busybox_rootfs_tar.read_bytes()
    bb = add_image(store, "busybox:latest", "busybox:1.36", "localhost:5000/bb:x", contents=[base],
                   labels={"org": "acme", "tier": "base"})
    app = add_image(store, "app:v1", contents=[base, tar_layer({"app/run": b"#!/bin/sh\n"})],
                    created="2025-06-01T00:00:00Z", labels={"org": "acme"},
                    history=[{"created": "2024-01-01T00:00:00Z",
                              "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                             {"created": "2025-06-01T00:00:00Z",
                              "created_by": "/bin/sh -c #(nop)  ENV\tA=1", "empty_layer": True},
                             {"created": "2025-06-01T00:00:00Z",
                              "created_by": "COPY run /app/run # " + "x" * 60,
                              "comment": "buildkit.dockerfile.v0"}])
    dangling = add_image(store, contents=[tar_layer({"tmp": b"t"})], created="2025-07-01T00:00:00Z")
    return {"busybox": bb, "app": app, "dangling": dangling}


def lines(res):
    return res.stdout.decode().splitlines()


def test_images_table(wharfie, sample, store):
    out = lines(wharfie("images"))
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out[0].startswith("REPOSITORY          TAG       IMAGE ID       CREATED")
    rows = [r.split() for r in out[1:]]
    bb = store.resolve("busybox")
    app = store.resolve("app:v1")
    # newest first; one row per name; the dangling image shown as <none> <none>
    assert [r[:3] for r in rows] == [
        ["<none>", "<none>", store.get(sample["dangling"]).id.short],
        ["app", "v1", app.id.short],
        ["busybox", "1.36", bb.id.short], ["busybox", "latest", bb.id.short],
        ["localhost:5000/bb", "x", bb.id.short]]
    assert rows[2][3:] == ["2", "years", "ago", f"{bb.size / 1e6:.3g}MB"]


def test_images_quiet_and_no_trunc(wharfie, sample, store):
    ids = lines(wharfie("images", "-q"))
    assert len(ids) == 5 and all(len(i) == 12 for i in ids)
    full = lines(wharfie("images", "-q", "--no-trunc"))
    assert full[1] == store.resolve("app:v1").id


def test_images_digests(wharfie, sample):
    out = lines(wharfie("images", "--digests"))
    assert out[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    row = next(r.split() for r in out if r.startswith("app "))
    assert row[2] == "<none>"  # no registry gave it a digest (docker's column)


def test_images_format_template_and_json(wharfie, sample):
    names = lines(wharfie("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert names == ["<none>:<none>", "app:v1", "busybox:1.36", "busybox:latest",
                     "localhost:5000/bb:x"]
    table = lines(wharfie("images", "--format", "table {{.Repository}}\\t{{.Size}}"))
    assert table[0].split() == ["REPOSITORY", "SIZE"]
    objs = [json.loads(x) for x in lines(wharfie("image", "ls", "--format", "json"))]
    assert objs[1]["Repository"] == "app" and objs[1]["Tag"] == "v1"
    assert set(objs[1]) == {"Containers", "CreatedAt", "CreatedSince", "Digest", "ID",
                            "Repository", "SharedSize", "Size", "Tag", "UniqueSize",
                            "VirtualSize"}
    bad = wharfie("images", "--format", "{{.Nope}}", check=False)
    assert bad.returncode != 0 and b"can't evaluate field Nope" in bad.stderr


def test_images_repository_argument_and_reference_filter(wharfie, sample):
    fmt = ("--format", "{{.Repository}}:{{.Tag}}")
    assert lines(wharfie("images", "busybox", *fmt)) == ["busybox:1.36", "busybox:latest"]
    assert lines(wharfie("images", "busybox:1.36", *fmt)) == ["busybox:1.36"]
    assert lines(wharfie("images", "-f", "reference=*:v1", *fmt)) == ["app:v1"]
    assert lines(wharfie("images", "-f", "reference=localhost:5000/*", *fmt)) == \
        ["localhost:5000/bb:x"]
    assert lines(wharfie("images", "nothing-here", *fmt)) == []


def test_images_filters(wharfie, sample):
    fmt = ("--format", "{{.Repository}}:{{.Tag}}")
    assert lines(wharfie("images", "-f", "dangling=true", *fmt)) == ["<none>:<none>"]
    assert "<none>:<none>" not in lines(wharfie("images", "-f", "dangling=false", *fmt))
    assert lines(wharfie("images", "-f", "label=tier", *fmt)) == \
        ["busybox:1.36", "busybox:latest", "localhost:5000/bb:x"]
    assert lines(wharfie("images", "-f", "label=org=acme", "-f", "label=tier=base", *fmt))[0] \
        == "busybox:1.36"
    assert lines(wharfie("images", "-f", "label=org=other", *fmt)) == []
    assert lines(wharfie("images", "-f", "before=app:v1", *fmt)) == \
        ["busybox:1.36", "busybox:latest", "localhost:5000/bb:x"]
    assert lines(wharfie("images", "-f", "since=app:v1", *fmt)) == ["<none>:<none>"]


@pytest.mark.parametrize("args,msg", [
    (("-f", "bogus=1"), "invalid filter 'bogus'"),
    (("-f", "dangling"), "bad format of filter"),
    (("-f", "dangling=maybe"), "invalid filter 'dangling=maybe'"),
    (("-f", "before=nope"), "No such image: nope:latest"),
])
def test_images_bad_filters(wharfie, sample, args, msg):
    res = wharfie("images", *args, check=False)
    err = res.stderr.decode()
    assert res.returncode != 0 and err.count("\n") == 1
    assert err.startswith("wharfie: error: ") and msg in err


def test_intermediate_images_hidden_without_all(wharfie, store):
    base = tar_layer({"a": b"1"})
    add_image(store, contents=[base])  # untagged parent of the next image
    add_image(store, "child", contents=[base, tar_layer({"b": b"2"})], created="2025-01-01T00:00:00Z")
    assert lines(wharfie("images", "--format", "{{.Repository}}")) == ["child"]
    assert lines(wharfie("images", "-a", "--format", "{{.Repository}}")) == ["child", "<none>"]


def test_tag(wharfie, sample, store):
    wharfie("tag", "busybox", "registry.local:5000/team/bb:1")
    assert store.resolve("registry.local:5000/team/bb:1").manifest_digest == sample["busybox"]
    wharfie("tag", store.resolve("app:v1").id.short, "busybox")  # moves the tag
    assert store.resolve("busybox").manifest_digest == sample["app"]


@pytest.mark.parametrize("args,msg", [
    (("nope", "x"), "No such image: nope:latest"),
    (("busybox", "Bad/Name"), "must be lowercase"),
    (("busybox", "x:bad tag!"), "invalid reference format"),
    (("busybox", f"x@sha256:{'a' * 64}"), "refusing to create a tag with a digest reference"),
])
def test_tag_errors(wharfie, sample, args, msg):
    res = wharfie("tag", *args, check=False)
    assert res.returncode != 0 and res.stderr.decode().count("\n") == 1
    assert msg in res.stderr.decode()


def test_rmi_untags_then_deletes(wharfie, sample, store):
    bb = store.resolve("busybox")
    layer = bb.manifest.layers[0].digest
    assert lines(wharfie("rmi", "busybox:1.36")) == ["Untagged: busybox:1.36"]
    assert lines(wharfie("image", "rm", "localhost:5000/bb:x")) == [
        "Untagged: localhost:5000/bb:x"]  # never pushed nor pulled: no repo digest line
    out = lines(wharfie("rmi", "busybox"))
    assert out == ["Untagged: busybox:latest", f"Deleted: {bb.id}"]  # its only layer is shared with app: it stays
    assert store.content.exists(layer)
    assert not store.content.exists(sample["busybox"]) and not store.content.exists(bb.id)


def test_rmi_by_id_refuses_several_names_without_force(wharfie, sample, store):
    bb = store.resolve("busybox")
    res = wharfie("rmi", bb.id.short, check=False)
    assert res.returncode != 0
    assert res.stderr.decode() == (
        f"wharfie: error: conflict: unable to delete {bb.id.short} (must be forced) - "
        "image is referenced in multiple repositories\n")
    out = lines(wharfie("rmi", "-f", bb.id.short))
    assert out[:3] == ["Untagged: busybox:1.36", "Untagged: busybox:latest",
                       "Untagged: localhost:5000/bb:x"]
    assert f"Deleted: {bb.id}" in out
    assert lines(wharfie("images", "--format", "{{.Repository}}:{{.Tag}}")) == \
        ["<none>:<none>", "app:v1"]


def test_rmi_by_id_single_name_and_dangling(wharfie, sample, store):
    app = store.resolve("app:v1")
    top_layer = app.manifest.layers[1].digest
    out = lines(wharfie("rmi", app.id.hex))
    assert out == ["Untagged: app:v1", f"Deleted: {app.id}", f"Deleted: {top_layer}"]
    dangling = store.get(sample["dangling"])
    assert lines(wharfie("rmi", sample["dangling"]))[0] == f"Deleted: {dangling.id}"


def test_rmi_continues_past_errors(wharfie, sample):
    res = wharfie("rmi", "nope", "app:v1", "sha256:" + "0" * 64, check=False)
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [
        "wharfie: error: No such image: nope:latest",
        f"wharfie: error: No such image: sha256:{'0' * 64}"]
    assert lines(res)[0] == "Untagged: app:v1"


def test_inspect(wharfie, sample, store):
    [doc] = json.loads(wharfie("inspect", "busybox").stdout)
    bb = store.resolve("busybox")
    assert list(doc)[:6] == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created"]
    assert doc["Id"] == bb.id
    assert doc["RepoTags"] == ["busybox:1.36", "busybox:latest", "localhost:5000/bb:x"]
    assert doc["RepoDigests"] == []  # never pulled or pushed: docker shows none
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Config"]["Labels"]["org"] == "acme"
    assert doc["Config"]["Entrypoint"] is None and doc["Config"]["WorkingDir"] == ""
    assert doc["Architecture"] == "amd64" and doc["Os"] == "linux" and doc["Size"] == bb.size
    assert doc["RootFS"] == {"Type": "layers", "Layers": [str(d) for d in bb.config.diff_ids]}
    assert doc["Metadata"]["LastTagTime"].endswith("Z")
    assert doc["Descriptor"]["digest"] == sample["busybox"]
    two = json.loads(wharfie("image", "inspect", "busybox", "app:v1").stdout)
    assert [d["RepoTags"][0] for d in two] == ["busybox:1.36", "app:v1"]


def test_inspect_format(wharfie, sample, store):
    out = lines(wharfie("inspect", "-f", "{{.Id}} {{json .Config.Labels}} {{.Os}}", "app:v1"))
    assert out == [f"{store.resolve('app:v1').id} {{\"org\":\"acme\"}} linux"]
    out = lines(wharfie("image", "inspect", "--format",
                        "{{range .RepoTags}}{{.}} {{end}}", "busybox"))
    assert out == ["busybox:1.36 busybox:latest localhost:5000/bb:x "]
    assert json.loads(lines(wharfie("inspect", "--format", "json", "app:v1"))[0])["Id"]


def test_inspect_missing(wharfie, sample):
    res = wharfie("inspect", "nope", check=False)
    assert res.returncode == 1 and res.stdout == b"[]\n"
    assert res.stderr == b"wharfie: error: No such object: nope\n"
    res = wharfie("image", "inspect", "app:v1", "nope", check=False)
    assert res.returncode == 1 and len(json.loads(res.stdout)) == 1
    assert res.stderr == b"wharfie: error: No such image: nope:latest\n"


def test_history(wharfie, sample, store):
    app = store.resolve("app:v1")
    out = lines(wharfie("history", "app:v1"))
    assert out[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert out[1].startswith(app.id.short + "   ")
    assert out[1].endswith("buildkit.dockerfile.v0")
    assert "COPY run /app/run # xxxxxxxxxxxxxxxxxxxxxxxx…" in out[1]
    assert out[2].startswith("<missing>") and "ENV A=1" in out[2] and " 0B " in out[2]
    assert out[3].startswith("<missing>") and "ADD file:abc" in out[3]
    sizes = store.layer_sizes(app)  # contents, uncompressed: what docker shows
    assert f"{sizes[0] / 1e6:.3g}MB" in out[3]
    quiet = lines(wharfie("history", "-q", "app:v1"))
    assert quiet == [app.id.short, "<missing>", "<missing>"]
    full = lines(wharfie("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}",
                         "app:v1"))
    assert full[0] == f"{app.id}|COPY run /app/run # {'x' * 60}"
    raw = lines(wharfie("history", "--human=false", "--format", "{{.Size}} {{.CreatedSince}}",
                        "app:v1"))
    assert raw[0] == f"{sizes[1]} 2025-06-01T00:00:00Z"
    res = wharfie("history", "nope", check=False)
    assert res.returncode != 0 and res.stderr == b"wharfie: error: No such image: nope:latest\n"


def test_prune_dangling_and_all(wharfie, sample, store):
    dangling = store.get(sample["dangling"])
    res = wharfie("image", "prune", input=b"n\n")
    assert b"WARNING! This will remove all dangling images." in res.stdout
    assert store.has_manifest(sample["dangling"])  # declined
    out = lines(wharfie("image", "prune", "-f"))
    assert out[0] == "Deleted Images:" and f"deleted: {dangling.id}" in out
    assert out[-1].startswith("Total reclaimed space: ") and not out[-1].endswith(" 0B")
    assert not store.has_manifest(sample["dangling"])
    assert lines(wharfie("image", "prune", "-f")) == ["Total reclaimed space: 0B"]
    out = lines(wharfie("image", "prune", "-a", "-f", "--filter", "label=tier=base"))
    assert "untagged: busybox:latest" in out and "untagged: app:v1" not in out
    out = lines(wharfie("image", "prune", "-a", "-f", "--filter", "until=24h"))
    assert "untagged: app:v1" in out
    assert list(store.content.walk()) == [] and store.list(all=True) == []


def test_prune_filters(wharfie, sample, store):
    out = lines(wharfie("image", "prune", "-a", "-f", "--filter", "label!=tier"))
    assert "untagged: app:v1" in out and "untagged: busybox:latest" not in out
    assert lines(wharfie("image", "prune", "-a", "-f", "--filter",
                         "until=2000-01-01T00:00:00Z")) == ["Total reclaimed space: 0B"]
    res = wharfie("image", "prune", "-f", "--filter", "until=soon", check=False)
    assert res.returncode != 0 and b"failed to parse value as time or duration" in res.stderr
    res = wharfie("image", "prune", "-f", "--filter", "dangling=true", check=False)
    assert res.returncode != 0 and res.stderr == b"wharfie: error: invalid filter 'dangling'\n"


def test_layer_sharing_on_disk(wharfie, sample, store, busybox_rootfs_tar):
    base = busybox_rootfs_tar.read_bytes()
    bb, app = store.resolve("busybox"), store.resolve("app:v1")
    shared = bb.manifest.layers[0].digest
    assert app.manifest.layers[0].digest == shared
    sizes = [n for d, n in store.content.walk()]
    assert sizes.count(len(base)) == 1  # the base layer is stored once
    wharfie("rmi", "-f", "busybox")
    wharfie("rmi", "busybox:1.36", "localhost:5000/bb:x")
    assert store.content.verify(shared)
    for d in store.resolve("app:v1").blobs():
        assert store.content.verify(d.digest)
    assert lines(wharfie("system", "check"))[-1] == "no problems found"


def test_system_df(wharfie, sample, store):
    out = lines(wharfie("system", "df"))
    assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    row = out[1].split()
    assert row[:3] == ["Images", "3", "0"]  # no container uses them: none active
    # each distinct layer's contents once (busybox's base is shared by app)
    layers = {d: n for img in store.list()
              for d, n in zip(img.diff_ids, store.layer_sizes(img), strict=True)}
    total = sum(layers.values())
    assert row[3] == f"{total / 1e6:.4g}MB" and row[5] == "(100%)"
    objs = [json.loads(x) for x in lines(wharfie("system", "df", "--format", "json"))]
    assert [o["Type"] for o in objs] == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert objs[0]["TotalCount"] == "3"
    assert objs[3] == {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
                       "Reclaimable": "0B"}
    verbose = lines(wharfie("system", "df", "-v"))
    assert verbose[0] == "Images space usage:"
    assert verbose[2].split()[:6] == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    app_row = next(r for r in verbose if r.startswith("app "))
    assert "MB" in app_row.split()[-3] or "kB" in app_row.split()[-3]


def test_system_check_finds_and_repairs(wharfie, sample, store):
    assert lines(wharfie("system", "check"))[-1] == "no problems found"
    app = store.resolve("app:v1")
    top = app.manifest.layers[1].digest
    path = store.content.path(top)
    path.write_bytes(b"corrupted")  # bit rot in a layer only app uses
    orphan = store.content.put(b"left behind by a crash")
    fresh = store.content.put(b"ingested by a pull that has not recorded its manifest yet")
    os.utime(store.content.path(orphan), (time.time() - 7200, time.time() - 7200))
    res = wharfie("system", "check", check=False)
    assert res.returncode == 1
    out = res.stdout.decode()
    assert f"{top}: blob content does not match its digest" in out
    assert f"{sample['app']}: image (app:v1): blob {top} is corrupt" in out
    assert f"{orphan}: blob of 22 bytes needed by no image" in out
    assert "run 'wharfie system check --repair'" in out and fresh not in out
    res = wharfie("system", "check", "--repair")
    assert "forgot the image and removed app:v1" in res.stdout.decode()
    assert not path.exists() and not store.content.exists(orphan)
    assert store.content.exists(fresh)  # younger than the grace period: a writer may need it
    for blob in (sample["app"], app.id):  # what only the forgotten image needed went with it
        assert not store.content.exists(blob)
    assert lines(wharfie("system", "check"))[-1] == "no problems found"
    bb = store.resolve("busybox")  # the other images are intact
    for d in bb.blobs():
        assert store.content.verify(d.digest)


def test_system_check_missing_blob_and_stale_index(wharfie, sample, store):
    bb = store.resolve("busybox")
    store.content.path(bb.id).unlink()  # the config vanished
    (store.root / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    res = wharfie("system", "check", check=False)
    assert res.returncode == 1
    assert f"blob {bb.id} is missing" in res.stdout.decode()
    assert "index.json: out of date with the tags" in res.stdout.decode()
    wharfie("system", "check", "--repair")
    assert lines(wharfie("system", "check"))[-1] == "no problems found"
    res = wharfie("images", "busybox", "-q", check=False)
    assert res.stdout == b""


def test_invalid_reference_and_unknown_image_exit_nonzero(wharfie, sample):
    for args in (("inspect", "UPPER"), ("history", "a:b:c"), ("rmi", "UPPER"),
                 ("image", "inspect", "nope")):
        res = wharfie(*args, check=False)
        assert res.returncode != 0, args
        err = res.stderr.decode()
        assert err.startswith("wharfie: error: ") and err.count("\n") == 1, (args, err)


def test_image_group_lists_subcommands(wharfie):
    out = wharfie("image", "--help").stdout.decode()
    for name in ("ls", "rm", "inspect", "history", "prune", "tag"):
        assert f"  {name} " in out


def test_moved_tag_leaves_old_image_dangling(wharfie, sample, store):
    store.tag(parse_reference("app:v1"), sample["busybox"])
    fmt = ("--format", "{{.Repository}}:{{.Tag}}:{{.ID}}")
    rows = lines(wharfie("images", "-f", "dangling=true", *fmt))
    assert f"<none>:<none>:{store.get(sample['app']).id.short}" in rows


def test_inspect_type(wharfie, sample):
    assert json.loads(wharfie("inspect", "--type", "image", "app:v1").stdout)[0]["RepoTags"] \
        == ["app:v1"]
    res = wharfie("inspect", "--type", "container", "app:v1", check=False)
    assert res.returncode != 0
    assert res.stderr == b"wharfie: error: No such container: app:v1\n"
    res = wharfie("inspect", "--type", "volume", "app:v1", check=False)
    assert res.returncode != 0
    assert res.stderr == b'wharfie: error: "volume" is not a valid value for --type\n'


def test_images_until_filter(wharfie, sample):
    fmt = ("--format", "{{.Repository}}:{{.Tag}}")
    assert lines(wharfie("images", "-f", "until=2025-01-01T00:00:00Z", *fmt)) == \
        ["busybox:1.36", "busybox:latest", "localhost:5000/bb:x"]


def test_rmi_by_repo_digest(wharfie, sample, store):
    out = lines(wharfie("rmi", f"localhost:5000/bb@{sample['busybox']}"))
    assert out == [f"Untagged: localhost:5000/bb@{sample['busybox']}"]
    assert [r.familiar() for r in store.resolve("busybox").repo_tags] == \
        ["busybox:1.36", "busybox:latest"]


def test_multi_platform_index(wharfie, store):
    from wharfie.oci import mediatypes as mt
    from wharfie.oci.manifest import Descriptor, Index
    from wharfie.oci.platform import Platform, host_platform

    host = host_platform()
    other = Platform("linux", "s390x")
    mine, theirs = image(contents=[tar_layer({"m": b"mine"})]), image(contents=[tar_layer({"t": b"x"})])
    descs = [Descriptor(mt.OCI_MANIFEST, store.put_image(img), len(img.manifest.raw),
                        platform=p) for img, p in ((theirs, other), (mine, host))]
    ix = Index.build(descs)
    store.content.put(ix.raw)
    store.put_manifest(ix.raw, ix.media_type, parse_reference("multi:1"))
    out = lines(wharfie("images", "--digests", "--format", "{{.Repository}} {{.Digest}} {{.ID}}"))
    assert out == [f"multi <none> {mine.id.short}"]  # the index, shown as the host's image
    [doc] = json.loads(wharfie("inspect", "multi:1").stdout)
    assert doc["Id"] == mine.id and doc["RepoDigests"] == []
    out = lines(wharfie("rmi", "multi:1"))
    assert out[0] == "Untagged: multi:1" and not any("@" in line for line in out)
    assert {f"Deleted: {mine.id}", f"Deleted: {theirs.id}"} <= set(out)
    assert list(store.content.walk()) == []


def test_system_check_repairs_tag_to_missing_manifest(wharfie, sample, store):
    store.db.execute("INSERT INTO refs VALUES (?,?,?,?,?)",
                     ("docker.io/library/ghost:1", "docker.io/library/ghost", "1",
                      "sha256:" + "e" * 64, 0.0))
    res = wharfie("system", "check", check=False)
    assert res.returncode == 1
    assert f"docker.io/library/ghost:1: reference points at missing manifest sha256:{'e' * 64}" \
        in res.stdout.decode()
    assert "removed the reference" in wharfie("system", "check", "--repair").stdout.decode()
    assert lines(wharfie("system", "check"))[-1] == "no problems found"


def test_system_df_build_cache_row(wharfie, sample, store):
    shared = store.resolve("busybox").manifest.layers[0]
    cache_only = store.content.put(b"a layer only the build cache holds" * 100)
    store.pin([shared.digest, cache_only], "build-cache")
    out = lines(wharfie("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|"
                        "{{.Size}}|{{.Reclaimable}}"))
    size = shared.size + 3400
    assert out[3] == f"Build Cache|2|1|{size / 1e6:.4g}MB|3.4kB"


def test_corrupt_database_is_one_error_line(wharfie, root):
    root.mkdir(parents=True)
    (root / "images.db").write_bytes(b"not a database at all, not even close" * 10)
    res = wharfie("images", check=False)
    assert res.returncode == 1 and res.stdout == b""
    assert res.stderr.decode().splitlines() == [
        f"wharfie: error: cannot open the image database {root / 'images.db'}: "
        "file is not a database (is it a wharfie store?)"]


def test_system_prune(wharfie, sample, store, root):
    """Stopped containers go first; dangling images; -a every image no container uses."""
    from wharfie.containers.store import ContainerStore

    res = wharfie("system", "prune", input=b"n\n")
    assert res.stdout.decode().startswith(
        "WARNING! This will remove:\n  - all stopped containers\n")
    assert "  - all dangling images\n" in res.stdout.decode()
    assert store.has_manifest(sample["dangling"])  # declined
    app = store.resolve("app:v1")
    ContainerStore(root).create(name="c1", image="app:v1", image_id=str(app.id), command=["x"])
    assert lines(wharfie("image", "prune", "-a", "-f"))[-1].startswith("Total reclaimed")
    assert [str(i.id) for i in store.list()] == [str(app.id)]  # a container uses it
    out = lines(wharfie("system", "prune", "-a", "-f"))
    assert out[0] == "Deleted Containers:" and len(out[1]) == 64
    assert ContainerStore(root).list() == []
    assert "Deleted Images:" in out and f"deleted: {app.id}" in out
    assert out[-1].startswith("Total reclaimed space: ") and store.list() == []


def test_rmi_prints_repo_digest_only_for_registry_images(wharfie, store, docker_registry):
    """docker prints ``Untagged: name@sha256:...`` only for a repo digest a registry gave
    (pull or push); a never-pushed image's last tag goes with its ``Untagged:`` line alone."""
    pushed, local = f"{docker_registry}/rmi/bb:1", f"{docker_registry}/rmi/local:1"
    digest = add_image(store, pushed, local, compression="gzip")  # pushed as it is
    wharfie("push", pushed)
    assert lines(wharfie("rmi", local)) == [f"Untagged: {local}"]
    assert lines(wharfie("rmi", pushed))[:2] == \
        [f"Untagged: {pushed}", f"Untagged: {docker_registry}/rmi/bb@{digest}"]
    wharfie("pull", pushed)
    assert lines(wharfie("rmi", pushed))[:2] == \
        [f"Untagged: {pushed}", f"Untagged: {docker_registry}/rmi/bb@{digest}"]


def test_an_image_named_by_a_repo_digest_alone(wharfie, store):
    """Pulled by digest (or left when its tag moved on): docker lists it as ``repo <none>``
    with its digest, and ``image prune`` removes it, as an untagged image."""
    digest = add_image(store, contents=[tar_layer({"d": b"d"})])
    store.record_repo_digest(parse_reference(f"localhost:5000/only@{digest}"), digest)
    out = lines(wharfie("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"))
    assert out == [f"localhost:5000/only <none> {digest}"]
    assert lines(wharfie("images", "-q", "--filter", "dangling=true")) != []
    wharfie("image", "prune", "-f")
    assert store.list() == []
