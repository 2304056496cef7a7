"""Distribution-spec conformance, push workflow: every upload variant, mount, validation."""

from __future__ import annotations

import hashlib
import json
import os

from regtest import OCI_INDEX, OCI_MANIFEST, errors_of, sha


def test_base_endpoint_says_v2(http):
    r = http("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_post_with_digest(http):
    data = os.urandom(5000)
    r = http("POST", f"/v2/push/mono/blobs/uploads/?digest={sha(data)}", body=data)
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/push/mono/blobs/{sha(data)}"
    assert r.headers["Docker-Content-Digest"] == sha(data)
    got = http("GET", r.headers["Location"])
    assert got.status == 200 and got.data == data


def test_post_then_put_with_body(http):
    data = os.urandom(3000)
    r = http("POST", "/v2/push/postput/blobs/uploads/")
    assert r.status == 202
    assert r.headers["Range"] == "0-0"
    loc = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in loc
    r = http("PUT", f"{loc}?digest={sha(data)}", body=data,
             headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201, r.data
    assert http("HEAD", f"/v2/push/postput/blobs/{sha(data)}").headers["Content-Length"] == "3000"


def test_chunked_upload_with_content_range_and_status(http):
    data = os.urandom(10_000)
    chunks = [data[:4000], data[4000:9000], data[9000:]]
    loc = http("POST", "/v2/push/chunked/blobs/uploads/").headers["Location"]
    offset = 0
    for chunk in chunks[:-1]:
        r = http("PATCH", loc, body=chunk, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            "Content-Length": str(len(chunk))})
        assert r.status == 202, r.data
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        loc = r.headers["Location"]
    status = http("GET", loc)
    assert status.status == 204
    assert status.headers["Range"] == "0-8999"
    # A chunk out of order is refused with 416 and the session is unharmed.
    for bad in ("100-101", "garbage"):
        r = http("PATCH", loc, body=b"xx", headers={"Content-Range": bad})
        assert r.status == 416 and r.headers["Range"] == "0-8999"
    r = http("PUT", f"{loc}?digest={sha(data)}", body=chunks[-1],
             headers={"Content-Range": f"9000-{len(data) - 1}"})
    assert r.status == 201, r.data
    assert http("GET", f"/v2/push/chunked/blobs/{sha(data)}").data == data


def test_streamed_patch_without_content_range(http):
    """What docker, crane and skopeo send: one PATCH with a chunked body, then PUT."""
    parts = [os.urandom(70_000) for _ in range(5)]
    data = b"".join(parts)
    loc = http("POST", "/v2/push/stream/blobs/uploads/").headers["Location"]
    r = http("PATCH", loc, body=iter(parts), chunked=True)
    assert r.status == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = http("PUT", f"{r.headers['Location']}?digest={sha(data)}")
    assert r.status == 201
    assert http("GET", f"/v2/push/stream/blobs/{sha(data)}").data == data


def test_wrong_digest_is_refused_and_nothing_is_stored(http):
    data = os.urandom(100)
    wrong = sha(b"something else")
    r = http("POST", f"/v2/push/bad/blobs/uploads/?digest={wrong}", body=data)
    assert r.status == 400 and errors_of(r) == ["DIGEST_INVALID"]
    assert http("HEAD", f"/v2/push/bad/blobs/{wrong}").status == 404
    assert http("HEAD", f"/v2/push/bad/blobs/{sha(data)}").status == 404
    r = http("POST", "/v2/push/bad/blobs/uploads/?digest=sha256:nothex", body=data)
    assert r.status == 400 and errors_of(r) == ["DIGEST_INVALID"]


def test_cancel_upload_then_it_is_unknown(http):
    loc = http("POST", "/v2/push/cancel/blobs/uploads/").headers["Location"]
    assert http("DELETE", loc).status == 204
    r = http("GET", loc)
    assert r.status == 404 and errors_of(r) == ["BLOB_UPLOAD_UNKNOWN"]
    r = http("PATCH", loc, body=b"abc")
    assert r.status == 404 and errors_of(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_upload_session_belongs_to_its_repository(http):
    loc = http("POST", "/v2/push/owner/blobs/uploads/").headers["Location"]
    other = loc.replace("/push/owner/", "/push/thief/")
    assert http("GET", other).status == 404


def test_cross_repository_mount(http):
    digest = http.push_blob("mount/src", os.urandom(2000))
    r = http("POST", f"/v2/mount/dst/blobs/uploads/?mount={digest}&from=mount/src")
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/mount/dst/blobs/{digest}"
    assert http("HEAD", f"/v2/mount/dst/blobs/{digest}").status == 200
    # Unknown source blob: the registry falls back to an upload session.
    r = http("POST", f"/v2/mount/dst/blobs/uploads/?mount={sha(b'nope')}&from=mount/src")
    assert r.status == 202 and "/blobs/uploads/" in r.headers["Location"]


def test_blobs_are_deduplicated_but_visible_per_repository(http, open_registry):
    data = os.urandom(4096)
    digest = http.push_blob("dedup/a", data)
    assert http("HEAD", f"/v2/dedup/b/blobs/{digest}").status == 404
    http.push_blob("dedup/b", data)
    copies = list((open_registry.data / "storage" / "blobs").rglob(digest.split(":")[1]))
    assert len(copies) == 1


def test_manifest_push_checks_referenced_blobs(http):
    config = b"{}"
    missing = sha(b"never pushed")
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": http.push_blob("man/check", config), "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": missing, "size": 12}]}
    r = http.push_manifest("man/check", "t", json.dumps(doc).encode())
    assert r.status == 400 and errors_of(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert json.loads(r.data)["errors"][0]["detail"]["digest"] == missing


def test_manifest_push_validation(http):
    r = http.push_manifest("man/invalid", "t", b"not json")
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]
    digest, raw = http.push_image("man/invalid", None)
    r = http.push_manifest("man/invalid", sha(b"other"), raw)
    assert r.status == 400 and errors_of(r) == ["DIGEST_INVALID"]
    r = http.push_manifest("man/invalid", "t", raw, media_type=OCI_INDEX)
    assert r.status == 400 and errors_of(r) == ["MANIFEST_INVALID"]
    big = json.dumps({"schemaVersion": 2, "pad": "x" * (4 << 20)}).encode()
    r = http.push_manifest("man/invalid", "big", big)
    assert r.status == 413 and errors_of(r) == ["SIZE_INVALID"]


def test_exact_manifest_bytes_and_digest(http):
    config = b'{"os":"linux"}'
    cd = http.push_blob("man/exact", config)
    raw = (b'{\n   "schemaVersion" : 2,  "mediaType": "' + OCI_MANIFEST.encode()
           + b'",\n "config": {"mediaType": "application/vnd.oci.image.config.v1+json", '
           b'"digest": "' + cd.encode() + b'", "size": 14}, "layers": []}\n\n')
    r = http.push_manifest("man/exact", "odd", raw)
    assert r.status == 201
    assert r.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    got = http("GET", "/v2/man/exact/manifests/odd", headers={"Accept": OCI_MANIFEST})
    assert got.data == raw
    assert got.headers["Content-Type"] == OCI_MANIFEST


def test_invalid_repository_names(http):
    for name in ["UPPER/case", "a/../b", "a//b", "-lead", "a/_x"]:
        r = http("GET", f"/v2/{name}/tags/list")
        assert r.status in (400, 404), name
        if r.status == 400:
            assert errors_of(r) == ["NAME_INVALID"], name
    r = http("POST", "/v2/UPPER/blobs/uploads/")
    assert r.status == 400 and errors_of(r) == ["NAME_INVALID"]


def test_large_manifest_streamed_without_content_length(http):
    digest, raw = http.push_image("man/large", None)
    doc = json.loads(raw)
    doc["annotations"] = {f"k{i}": "v" * 1000 for i in range(1000)}  # about 1 MiB
    big = json.dumps(doc).encode()
    parts = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    r = http("PUT", "/v2/man/large/manifests/big", body=iter(parts), chunked=True,
             headers={"Content-Type": OCI_MANIFEST})
    assert r.status == 201, r.data
    assert http("GET", "/v2/man/large/manifests/big").data == big
    doc["annotations"] = {f"k{i}": "v" * 1000 for i in range(5000)}  # over 4 MiB
    huge = json.dumps(doc).encode()
    r = http("PUT", "/v2/man/large/manifests/huge", chunked=True,
             body=iter([huge[i:i + 65536] for i in range(0, len(huge), 65536)]),
             headers={"Content-Type": OCI_MANIFEST})
    assert r.status == 413 and errors_of(r) == ["SIZE_INVALID"]
