"""Distribution-spec conformance: pull, content discovery and content management."""

from __future__ import annotations

import json
import os

from regtest import OCI_INDEX, OCI_MANIFEST, errors_of, sha

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_pull_manifest_by_tag_and_digest_get_and_head(http):
    digest, raw = http.push_image("pull/img", "latest")
    for ref in ("latest", digest):
        r = http("GET", f"/v2/pull/img/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status == 200 and r.data == raw
        assert r.headers["Docker-Content-Digest"] == digest
        h = http("HEAD", f"/v2/pull/img/manifests/{ref}")
        assert h.status == 200 and h.data == b""
        assert h.headers["Content-Length"] == str(len(raw))
        assert h.headers["Docker-Content-Digest"] == digest
    r = http("GET", "/v2/pull/img/manifests/nope")
    assert r.status == 404 and errors_of(r) == ["MANIFEST_UNKNOWN"]
    assert http("HEAD", f"/v2/pull/img/manifests/{sha(b'x')}").status == 404


def test_blob_get_head_and_ranges(http):
    data = os.urandom(100_000)
    digest = http.push_blob("pull/blob", data)
    h = http("HEAD", f"/v2/pull/blob/blobs/{digest}")
    assert h.status == 200 and h.headers["Content-Length"] == "100000"
    assert h.headers["Docker-Content-Digest"] == digest
    r = http("GET", f"/v2/pull/blob/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.data == data[10:20]
    assert r.headers["Content-Range"] == "bytes 10-19/100000"
    r = http("GET", f"/v2/pull/blob/blobs/{digest}", headers={"Range": "bytes=99990-"})
    assert r.status == 206 and r.data == data[99990:]
    r = http("GET", f"/v2/pull/blob/blobs/{digest}", headers={"Range": "bytes=200000-"})
    assert r.status == 416
    r = http("GET", f"/v2/pull/blob/blobs/{sha(b'absent')}")
    assert r.status == 404 and errors_of(r) == ["BLOB_UNKNOWN"]


def test_blob_validators_name_the_digest(http):
    """A blob's ETag is its digest, as docker-registry's: a client revalidating with it gets
    304, and the validators do not change with the file's mtime."""
    data = os.urandom(50_000)
    digest = http.push_blob("pull/etag", data)
    url = f"/v2/pull/etag/blobs/{digest}"
    r = http("GET", url)
    assert r.status == 200 and r.data == data
    assert r.headers["ETag"] == f'"{digest}"'
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    r = http("GET", url, headers={"If-None-Match": f'"{digest}"'})
    assert r.status == 304 and r.data == b"" and r.headers["ETag"] == f'"{digest}"'
    r = http("GET", url, headers={"If-None-Match": f'"{sha(b"other")}"'})
    assert r.status == 200 and r.data == data


def test_blob_ranges_on_one_connection_with_if_range(http):
    """Ranges of a multi-MB blob, one after another on one keep-alive connection (sendfile
    from an offset must leave the connection usable); If-Range naming another validator
    gets the whole blob; an unsatisfiable range is the registry's JSON error."""
    data = os.urandom(5 << 20)
    digest = http.push_blob("pull/ranges", data)
    url = f"/v2/pull/ranges/blobs/{digest}"
    conn = http.pool.connection_from_url(http.base)
    cases = [({"Range": "bytes=1000000-4999999"}, 206, data[1000000:5000000]),
             ({"Range": "bytes=-10"}, 206, data[-10:]),
             ({}, 200, data),
             ({"Range": "bytes=7-", "If-Range": f'"{digest}"'}, 206, data[7:]),
             ({"Range": "bytes=7-", "If-Range": f'"{sha(b"other")}"'}, 200, data),
             ({"Range": "bytes=0-0"}, 206, data[:1])]
    for headers, status, body in cases:
        r = conn.urlopen("GET", url, headers=headers, retries=False)
        assert (r.status, r.data == body) == (status, True), headers
        assert r.headers["Content-Length"] == str(len(body))
        assert r.headers["ETag"] == f'"{digest}"'
    assert conn.num_connections == 1
    r = http("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status == 416 and errors_of(r) == ["BLOB_UNKNOWN"]
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_all_four_manifest_media_types(http):
    config = b'{"architecture":"amd64","os":"linux"}'
    cd = http.push_blob("types/all", config)
    docker = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                         "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                    "digest": cd, "size": len(config)},
                         "layers": []}).encode()
    assert http.push_manifest("types/all", "docker", docker, DOCKER_MANIFEST).status == 201
    oci_digest, oci = http.push_image("types/all", "oci")
    for media, tag in ((OCI_INDEX, "ociindex"), (DOCKER_LIST, "dockerlist")):
        index = json.dumps({"schemaVersion": 2, "mediaType": media, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": len(oci),
             "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
        assert http.push_manifest("types/all", tag, index, media).status == 201
        r = http("GET", f"/v2/types/all/manifests/{tag}", headers={"Accept": media})
        assert r.headers["Content-Type"] == media and r.data == index
    r = http("GET", "/v2/types/all/manifests/docker",
             headers={"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"})
    assert r.headers["Content-Type"] == DOCKER_MANIFEST and r.data == docker
    # A client that accepts only image manifests is not handed an index.
    r = http("GET", "/v2/types/all/manifests/ociindex", headers={"Accept": OCI_MANIFEST})
    assert r.status == 404 and errors_of(r) == ["MANIFEST_UNKNOWN"]


def test_index_needs_its_children(http):
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(b"child"), "size": 5}]}).encode()
    r = http.push_manifest("types/orphan", "t", index, OCI_INDEX)
    assert r.status == 400 and errors_of(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_tags_list_pagination_with_link(http):
    tags = ["a", "b", "c", "d", "e"]
    digest, raw = http.push_image("disc/tags", None)
    for t in reversed(tags):
        assert http.push_manifest("disc/tags", t, raw).status == 201
    r = http("GET", "/v2/disc/tags/tags/list")
    assert json.loads(r.data) == {"name": "disc/tags", "tags": tags}
    got, url = [], "/v2/disc/tags/tags/list?n=2"
    while url:
        r = http("GET", url)
        got += json.loads(r.data)["tags"]
        link = r.headers.get("Link")
        url = link[1:link.index(">")] if link else None
        assert len(got) <= 5
    assert got == tags
    r = http("GET", "/v2/disc/tags/tags/list?n=2&last=b")
    assert json.loads(r.data)["tags"] == ["c", "d"]
    r = http("GET", "/v2/disc/never/tags/list")
    assert r.status == 404 and errors_of(r) == ["NAME_UNKNOWN"]


def test_catalog_pagination(http):
    for name in ("cat/x1", "cat/x2", "cat/x3"):
        http.push_image(name, "t")
    r = http("GET", "/v2/_catalog")
    repos = json.loads(r.data)["repositories"]
    assert {"cat/x1", "cat/x2", "cat/x3"} <= set(repos) and repos == sorted(repos)
    r = http("GET", "/v2/_catalog?n=1&last=cat/x1")
    assert json.loads(r.data)["repositories"] == ["cat/x2"]
    assert r.headers["Link"] == '</v2/_catalog?n=1&last=cat%2Fx2>; rel="next"'


def test_referrers_with_artifact_type_filter(http):
    subject_digest, subject = http.push_image("refs/app", "v1")
    r = http("GET", f"/v2/refs/app/referrers/{subject_digest}")
    assert r.status == 200 and json.loads(r.data)["manifests"] == []
    assert r.headers["Content-Type"] == OCI_INDEX
    subject_desc = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject)}
    empty = b"{}"
    empty_desc = {"mediaType": "application/vnd.oci.empty.v1+json",
                  "digest": http.push_blob("refs/app", empty), "size": 2}
    made = {}
    for kind in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
               "config": empty_desc, "layers": [empty_desc], "subject": subject_desc,
               "annotations": {"kind": kind}}
        raw = json.dumps(doc).encode()
        r = http.push_manifest("refs/app", sha(raw), raw)
        assert r.status == 201
        assert r.headers["OCI-Subject"] == subject_digest
        made[kind] = sha(raw)
    r = http("GET", f"/v2/refs/app/referrers/{subject_digest}")
    listed = json.loads(r.data)["manifests"]
    assert {m["digest"] for m in listed} == set(made.values())
    assert {m["artifactType"] for m in listed} == set(made)
    r = http("GET", f"/v2/refs/app/referrers/{subject_digest}"
                    "?artifactType=application/vnd.example.sig")
    assert [m["digest"] for m in json.loads(r.data)["manifests"]] == [
        made["application/vnd.example.sig"]]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    # Deleting a referrer removes it from the list.
    assert http("DELETE", f"/v2/refs/app/manifests/{made['application/vnd.example.sig']}"
                ).status == 202
    r = http("GET", f"/v2/refs/app/referrers/{subject_digest}")
    assert [m["digest"] for m in json.loads(r.data)["manifests"]] == [
        made["application/vnd.example.sbom"]]


def test_content_management_deletes(http):
    digest, raw = http.push_image("mgmt/del", "one")
    assert http.push_manifest("mgmt/del", "two", raw).status == 201
    assert http("DELETE", "/v2/mgmt/del/manifests/one").status == 202
    assert http("GET", "/v2/mgmt/del/manifests/one").status == 404
    assert http("GET", "/v2/mgmt/del/manifests/two").status == 200
    assert http("DELETE", f"/v2/mgmt/del/manifests/{digest}").status == 202
    r = http("GET", f"/v2/mgmt/del/manifests/{digest}")
    assert r.status == 404 and errors_of(r) == ["MANIFEST_UNKNOWN"]
    assert http("GET", "/v2/mgmt/del/manifests/two").status == 404
    assert json.loads(http("GET", "/v2/mgmt/del/tags/list").data)["tags"] == []
    layer = json.loads(raw)["layers"][0]["digest"]
    assert http("DELETE", f"/v2/mgmt/del/blobs/{layer}").status == 202
    r = http("GET", f"/v2/mgmt/del/blobs/{layer}")
    assert r.status == 404 and errors_of(r) == ["BLOB_UNKNOWN"]
    r = http("DELETE", f"/v2/mgmt/del/manifests/{digest}")
    assert r.status == 404 and errors_of(r) == ["MANIFEST_UNKNOWN"]


def test_invalid_references_are_client_errors(http):
    for ref in ("-dash", "a" * 129, "sha256:short"):
        r = http("GET", f"/v2/refs/bad/manifests/{ref}")
        assert r.status == 400, ref
        assert errors_of(r)[0] in ("MANIFEST_INVALID", "DIGEST_INVALID")
    r = http("GET", "/v2/refs/bad/referrers/notadigest")
    assert r.status == 400 and errors_of(r) == ["DIGEST_INVALID"]


def test_manifest_is_also_a_blob_of_its_repository(http):
    digest, raw = http.push_image("pull/asblob", "t")
    r = http("GET", f"/v2/pull/asblob/blobs/{digest}")
    assert r.status == 200 and r.data == raw
    assert http("GET", f"/v2/pull/other/blobs/{digest}").status == 404
