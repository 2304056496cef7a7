"""Two server processes on one filesystem storage: what one accepts, the other serves."""

from __future__ import annotations

import os
import threading

from regtest import Http, sha


def test_two_processes_one_directory(start_registry, tmp_path):
    data = tmp_path / "shared"
    a = Http(start_registry(data=data).url)
    b = Http(start_registry(data=data).url)
    pushed, errors = [], []

    def push(http: Http, n: int) -> None:
        try:
            for i in range(5):
                pushed.append((f"shared/r{n}", *http.push_image(f"shared/r{n}", f"t{i}")))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=push, args=(h, n)) for n, h in enumerate((a, b, a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for repo, digest, raw in pushed:
        for http in (a, b):
            assert http("GET", f"/v2/{repo}/manifests/{digest}").data == raw
    data_blob = os.urandom(70_000)
    loc = a("POST", "/v2/shared/up/blobs/uploads/").headers["Location"]
    a("PATCH", loc, body=data_blob[:30_000])
    b("PATCH", loc, body=data_blob[30_000:])
    assert b("PUT", f"{loc}?digest={sha(data_blob)}").status == 201
    assert a("GET", f"/v2/shared/up/blobs/{sha(data_blob)}").data == data_blob
    repos = a("GET", "/v2/_catalog").json()["repositories"]
    assert repos == b("GET", "/v2/_catalog").json()["repositories"]
    assert {f"shared/r{n}" for n in range(4)} <= set(repos)
