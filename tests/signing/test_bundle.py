"""``wharfie sign --bundle``: a Sigstore bundle as a referrer (cosign v3's layout), on a real
``wharfie registry serve``; ``wharfie verify`` accepts it without the ``.sig`` tag."""

from __future__ import annotations

import base64
import json
import urllib.request
from urllib.parse import quote

from wharfie.api import Client
from wharfie.signing.bundle import BUNDLE_TYPE
from wharfie.testing.random import add_image

from .conftest import PASSWORD, error_line


def fetch(registry: str, path: str, method: str = "GET", accept: str = "*/*"):
    req = urllib.request.Request(f"http://{registry}/v2/{path}", method=method,
                                 headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def test_bundle_is_a_referrer_and_verifies_alone(wharfie, root, tmp_path, keys, other_keys,
                                                 serve_registry):
    (tmp_path / "open.yaml").write_text("{}\n")
    registry = serve_registry(tmp_path / "open.yaml")
    ref = f"{registry}/bundled/app:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=71, compression="gzip")
        digest = client.push(ref).digest
    wharfie("sign", "--bundle", "--key", str(keys[0]), ref, env=PASSWORD)

    referrers = json.loads(fetch(registry, f"bundled/app/referrers/{digest}"
                                           f"?artifactType={quote(BUNDLE_TYPE)}"))["manifests"]
    assert [r["artifactType"] for r in referrers] == [BUNDLE_TYPE]
    artifact = json.loads(fetch(registry, f"bundled/app/manifests/{referrers[0]['digest']}"))
    assert artifact["subject"]["digest"] == str(digest)
    assert artifact["artifactType"] == BUNDLE_TYPE
    (layer,) = artifact["layers"]
    bundle = json.loads(fetch(registry, f"bundled/app/blobs/{layer['digest']}"))
    assert bundle["mediaType"] == BUNDLE_TYPE
    assert set(bundle["verificationMaterial"]) == {"publicKey", "tlogEntries"}
    assert bundle["verificationMaterial"]["tlogEntries"] == []  # offline: no Rekor entry
    assert bundle["verificationMaterial"]["publicKey"]["hint"]
    message = bundle["messageSignature"]
    assert message["messageDigest"]["algorithm"] == "SHA2_256"
    assert base64.b64decode(message["messageDigest"]["digest"]).hex() == digest.hex
    assert base64.b64decode(message["signature"])

    # without the .sig tag, the bundle alone verifies
    fetch(registry, f"bundled/app/manifests/sha256-{digest.hex}.sig", method="DELETE")
    out = wharfie("verify", "--key", str(keys[1]), ref).stdout.decode()
    assert "Verified OK" in out
    res = wharfie("verify", "--key", str(other_keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "bundle(s) for" in error_line(res) and "none made by the key" in error_line(res)


def test_bundle_with_local_is_one_clear_error(wharfie, keys):
    res = wharfie("sign", "--bundle", "--local", "--key", str(keys[0]), "x/y:1", env=PASSWORD,
                  check=False)
    assert res.returncode != 0
    assert error_line(res) == ("wharfie: error: --bundle attaches through the registry's "
                               "referrers API, not with --local")
