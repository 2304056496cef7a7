import json

import pytest

from wharfie.errors import Conflict, DigestMismatch, InvalidReference, NotFound
from wharfie.images.imagestore import ImageStore
from wharfie.oci import mediatypes as mt
from wharfie.oci.image import Image
from wharfie.oci.manifest import Descriptor, Index
from wharfie.oci.platform import Platform
from wharfie.oci.reference import parse_reference
from wharfie.testing.random import add_image, image, tar_layer

BASE = tar_layer({"etc/base": b"base"})
TOP = tar_layer({"app/top": b"top" * 100})


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path / "root")


def test_put_image_stores_blobs_and_records_untagged(store):
    img = image(contents=[BASE], labels={"a": "b"})
    digest = store.put_image(img)
    assert digest == img.digest
    for d in img.blobs():
        assert store.content.exists(d.digest)
    [stored] = store.list()
    assert stored.manifest_digest == digest and stored.id == img.id
    assert stored.repo_tags == [] and stored.dangling
    assert stored.size == len(b"base")  # the layer's contents, as docker counts them
    assert stored.compressed_size == img.manifest.config.size + len(BASE)
    assert stored.labels == {"a": "b"} and stored.created == "2024-01-01T00:00:00Z"
    # A StoredImage is an Image read back from the content store.
    assert isinstance(stored, Image) and stored.config.raw == img.config.raw
    assert [x.diff_id for x in stored.layers()] == [x.diff_id for x in img.layers()]


def test_put_image_reports_progress_and_skips_present_blobs(store):
    events = []
    store.put_image(image(contents=[BASE]), progress=lambda e, d, n: events.append(e))
    assert events.count("start") == 2 and "skip" not in events
    events.clear()
    store.put_image(image(contents=[BASE, TOP]), progress=lambda e, d, n: events.append(e))
    assert events.count("skip") == 1  # the shared base layer is not copied again


def test_tag_resolve_and_move(store):
    d1 = add_image(store, "busybox", contents=[BASE])
    d2 = add_image(store, contents=[BASE, TOP], created="2025-01-01T00:00:00Z")
    img = store.resolve("busybox")
    assert img.manifest_digest == d1
    assert [r.familiar() for r in img.repo_tags] == ["busybox:latest"]
    assert img.repo_digests == []  # no registry gave it a digest yet
    # a push that compressed its layers: the registry's digest is not the local one
    pushed = "sha256:" + "f" * 64
    store.record_repo_digest(parse_reference(f"busybox:latest@{pushed}"), d1)
    assert [r.familiar() for r in store.resolve("busybox").repo_digests] == [f"busybox@{pushed}"]
    assert store.resolve(f"busybox@{pushed}").manifest_digest == d1
    store.tag(parse_reference("busybox"), d2)  # move the tag
    assert store.resolve("docker.io/library/busybox:latest").manifest_digest == d2
    assert store.resolve(d1).dangling  # the old image stays, now dangling


def test_resolve_by_id_prefix_manifest_digest_and_repo_digest(store):
    d = add_image(store, "localhost:5000/team/app:v1", contents=[BASE])
    img = store.resolve("localhost:5000/team/app:v1")
    assert store.resolve(img.id).manifest_digest == d
    assert store.resolve(img.id.hex).manifest_digest == d
    assert store.resolve(img.id.hex[:6]).manifest_digest == d
    assert store.resolve(f"sha256:{img.id.hex[:8]}").manifest_digest == d
    assert store.resolve(d).manifest_digest == d
    assert store.resolve(f"localhost:5000/team/app@{d}").manifest_digest == d


def test_resolve_errors(store):
    add_image(store, "busybox", contents=[BASE])
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        store.resolve("nope")
    with pytest.raises(NotFound, match="No such image: ffffff"):
        store.resolve("ffffff")
    with pytest.raises(InvalidReference, match="must be lowercase"):
        store.resolve("Busybox")


def test_ambiguous_prefix(store):
    ids = set()
    i = 0
    while True:  # find two images whose IDs share a first hex digit
        add_image(store, contents=[BASE], created=f"2024-01-01T00:00:{i:02d}Z")
        ids = [x.id.hex for x in store.list()]
        firsts = [h[0] for h in ids]
        dup = next((c for c in firsts if firsts.count(c) > 1), None)
        if dup:
            break
        i += 1
    with pytest.raises(Conflict, match=f"multiple images found with provided prefix: {dup}"):
        store.resolve(dup)


def test_tag_refuses_digest_and_unknown_manifest(store):
    d = add_image(store, contents=[BASE])
    with pytest.raises(InvalidReference, match="digest"):
        store.tag(parse_reference(f"busybox@{d}"), d)
    with pytest.raises(NotFound):
        store.tag(parse_reference("busybox"), "sha256:" + "0" * 64)


def test_put_manifest_checks_blobs(store):
    img = image(contents=[BASE])
    raw, media_type = img.manifest_bytes()
    with pytest.raises(NotFound, match="needs blob"):
        store.put_manifest(raw, media_type)
    assert store.list() == [] and not store.content.exists(img.digest)
    store.content.put(img.read_blob(img.manifest.config))
    store.content.put(BASE[:-512])  # a different (truncated) blob, not the layer
    with pytest.raises(NotFound):
        store.put_manifest(raw, media_type)


def test_put_manifest_with_ref_tags_and_checks_digest(store):
    img = image(contents=[BASE])
    for d in img.blobs():
        store.content.put(img.read_blob(d))
    raw, media_type = img.manifest_bytes()
    store.put_manifest(raw, media_type, parse_reference("alpine:3"))
    assert [r.familiar() for r in store.resolve("alpine:3").repo_tags] == ["alpine:3"]
    with pytest.raises(DigestMismatch):
        store.put_manifest(raw, media_type, parse_reference("x@sha256:" + "1" * 64))
    pinned = parse_reference(f"pinned@{img.digest}")
    store.put_manifest(raw, media_type, pinned)
    got = store.resolve(str(pinned))
    assert "pinned" in [r.familiar_name for r in got.repo_digests]


def test_put_manifest_records_and_tags_in_one_transaction(store):
    """A build's image and its tags land together: one commit, one index.json write."""
    img = image(contents=[BASE])
    for d in img.blobs():
        store.content.put(img.read_blob(d))
    raw, media_type = img.manifest_bytes()
    with pytest.raises(InvalidReference, match="digest"):
        store.put_manifest(raw, media_type, tags=[parse_reference(f"app@{img.digest}")])
    assert store.list() == []  # refused before anything was recorded
    writes = []
    real = store.content.write_index
    store.content.write_index = lambda entries: (writes.append(entries), real(entries))[1]
    store.put_manifest(raw, media_type, tags=[parse_reference("app:1"), parse_reference("app")])
    assert len(writes) == 1
    assert sorted(r.familiar() for r in store.resolve("app:1").repo_tags) == \
        ["app:1", "app:latest"]


def test_a_pin_commits_without_waiting_for_the_disk_and_leaves_the_store_durable(store):
    """Pins (one per layer a build makes) are not fsynced; every other write still is."""
    d = add_image(store, "busybox:1", contents=[BASE])
    statements = []
    store.db.set_trace_callback(statements.append)
    store.pin([d], "build-cache")
    store.db.set_trace_callback(None)
    assert statements[0] == "PRAGMA synchronous=NORMAL" and "COMMIT" in statements
    assert statements[-1] == "PRAGMA synchronous=FULL"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    assert store.db.execute("SELECT owner FROM pins WHERE blob = ?", (d,)).fetchall() == \
        [("build-cache",)]


def test_index_json_follows_tags(store):
    d = add_image(store, "busybox:1", contents=[BASE])
    entries = json.loads((store.root / "index.json").read_bytes())["manifests"]
    assert entries == [{
        "mediaType": mt.OCI_MANIFEST, "digest": d, "size": store.content.size(d),
        "annotations": {"io.containerd.image.name": "docker.io/library/busybox:1",
                        "org.opencontainers.image.ref.name": "1"}}]
    store.untag(parse_reference("busybox:1"))
    entries = json.loads((store.root / "index.json").read_bytes())["manifests"]
    assert entries == [{"mediaType": mt.OCI_MANIFEST, "digest": d,
                        "size": store.content.size(d)}]


def test_index_json_is_rewritten_only_when_it_changes(store):
    """A no-change rebuild tags what the tag already names: index.json stays as written
    (no rewrite to sync); any change rewrites it."""
    d = add_image(store, "busybox:1", contents=[BASE])
    index = store.root / "index.json"
    before = index.stat().st_ino
    store.tag(parse_reference("busybox:1"), d)
    assert index.stat().st_ino == before
    store.tag(parse_reference("busybox:2"), d)
    assert index.stat().st_ino != before
    assert "docker.io/library/busybox:2" in index.read_text()


def test_delete_keeps_shared_layers(store):
    base = add_image(store, "base", contents=[BASE])
    app = add_image(store, "app", contents=[BASE, TOP])
    app_img = store.resolve("app")
    top_layer = app_img.manifest.layers[1].digest
    with pytest.raises(Conflict):
        store.delete(app)
    removal = store.delete(app, untag=True)
    assert [r.familiar() for r in removal.untagged] == ["app:latest"]
    assert removal.deleted_images == [app_img.id]
    gone = {d for d, _ in removal.deleted_blobs}
    assert gone == {app, app_img.id, top_layer}
    kept = store.resolve("base")
    for d in kept.blobs():
        assert store.content.verify(d.digest)
    assert store.content.exists(base)
    assert store.unreferenced_blobs() == []


def test_index_is_listed_as_its_host_child_and_deleted_with_it(store):
    amd = image(contents=[BASE])
    arm = image(contents=[TOP])
    da, dr = store.put_image(amd), store.put_image(arm)
    ix = Index.build([
        Descriptor(mt.OCI_MANIFEST, da, len(amd.manifest.raw), platform=Platform("linux", "amd64")),
        Descriptor(mt.OCI_MANIFEST, dr, len(arm.manifest.raw), platform=Platform("linux", "arm64")),
    ])
    store.content.put(ix.raw)
    di = store.put_manifest(ix.raw, ix.media_type, parse_reference("multi:1"))
    [listed] = store.list()  # the children are not listed as dangling images
    assert listed.target == di and listed.manifest_digest == da and listed.id == amd.id
    assert listed.repo_digests == []  # never pulled or pushed
    with pytest.raises(Conflict, match="image is part of index"):
        store.delete(dr)  # the index still needs it
    target = store.open_target("multi:1")
    assert target.digest == di and target.image_for(Platform("linux", "arm64")).id == arm.id
    removal = store.delete(di, untag=True)
    assert set(removal.deleted_images) == {amd.id, arm.id}
    assert list(store.content.walk()) == [] and store.list(all=True) == []


def test_stores_are_shared_between_instances(store):
    add_image(store, "busybox", contents=[BASE])
    other = ImageStore(store.root)
    assert other.resolve("busybox").repo_tags[0].familiar() == "busybox:latest"


def _tag_many(root, prefix, digest):
    s = ImageStore(root)
    for i in range(40):
        s.tag(parse_reference(f"{prefix}:{i}"), digest)


def test_concurrent_writers_keep_index_json_in_step(store):
    import multiprocessing

    d = add_image(store, contents=[BASE])
    procs = [multiprocessing.Process(target=_tag_many, args=(store.root, p, d))
             for p in ("one", "two", "three")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(store.refs(d)) == 120
    on_disk = json.loads((store.root / "index.json").read_bytes())["manifests"]
    assert on_disk == store.index_entries() and len(on_disk) == 120


def test_sizes_are_contents_however_stored_and_measured_lazily_for_old_stores(store):
    """The same layer, gzip or not, gives one size; a store whose layer sizes were never
    recorded (made before they were kept) measures them on first listing."""
    plain = add_image(store, "plain:1", contents=[TOP], compression="none")
    gz = add_image(store, "gz:1", contents=[TOP], compression="gzip")
    assert store.get(plain).id == store.get(gz).id  # one image, two encodings
    sizes = {img.manifest_digest: (img.size, img.compressed_size) for img in store.list()}
    assert sizes[plain][0] == sizes[gz][0] == 300
    assert sizes[gz][1] < sizes[plain][1]
    store.db.execute("DELETE FROM layer_sizes")
    assert [img.size for img in store.list()] == [300, 300]
    assert store.db.execute("SELECT count(*) FROM layer_sizes").fetchone()[0] == 1
    assert store.layer_sizes(store.get(gz)) == [300]


def test_layer_sizes_are_measured_on_first_use_not_when_stored(store):
    """Storing (a pull, a load) does not decompress the layers to size them: the first
    read of an image's size does, once, and records it for later listings."""
    def measured() -> int:
        return store.db.execute("SELECT count(*) FROM layer_sizes").fetchone()[0]

    d = add_image(store, "lazy:1", contents=[TOP], compression="gzip")
    img = store.get(d)
    assert measured() == 0
    assert img.size == 300
    assert measured() == 1
    assert [i.size for i in store.list()] == [300]
