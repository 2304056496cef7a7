"""``wharfie registry serve --policy`` with ``require_signatures``: a real server on loopback
serves images of the guarded repositories only when they carry a good signature."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest
import yaml

from wharfie.api import Client
from wharfie.errors import InvalidInput
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.reference import parse_reference
from wharfie.server.policy import Policy
from wharfie.testing.random import add_image

from .conftest import PASSWORD, error_line, pushed

ACCEPT = ",".join(sorted(mt.ALL_MANIFESTS))


def get_manifest(registry: str, repo: str, ref: str) -> tuple[int, dict]:
    """Status and JSON body of a plain manifest GET."""
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{ref}",
                                 headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def guarded(tmp_path, keys, serve_registry) -> str:
    """A server whose ``prod/*`` repositories need a signature by ``keys``' public key,
    named by a path relative to the policy file."""
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(keys[1], conf / "prod.pub")
    policy = conf / "policy.yaml"
    policy.write_text(yaml.safe_dump({"require_signatures": [
        {"repos": ["prod/*"], "keys": ["prod.pub"]}]}))
    return serve_registry(policy)


def test_unsigned_image_is_denied_by_tag_and_digest(wharfie, root, tmp_path, guarded):
    ref = f"{guarded}/prod/unsigned:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=61, compression="gzip")
        digest = client.push(ref).digest
    for reference in ("1", str(digest)):
        status, body = get_manifest(guarded, "prod/unsigned", reference)
        assert status == 403, body
        error = body["errors"][0]
        assert error["code"] == "DENIED"
        assert error["message"].startswith("signature required: ")
        assert "no signature found" in error["message"]
    res = wharfie("--root", str(tmp_path / "puller"), "pull", ref, check=False)
    assert res.returncode != 0
    assert "signature required" in error_line(res)
    # repositories outside the rule are served as before
    dev = pushed(root, guarded, "dev/unsigned", seed=62)
    assert wharfie("--root", str(tmp_path / "puller"), "pull", dev).returncode == 0


def test_signed_image_is_served_and_verifies_against_the_server(wharfie, root, tmp_path,
                                                                keys, guarded):
    ref = f"{guarded}/prod/app:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=63, compression="gzip")
    wharfie("push", "--sign-by", str(keys[0]), ref, env=PASSWORD)
    digest = Client(root).push(ref).digest  # again: nothing new, the pushed digest
    assert get_manifest(guarded, "prod/app", "1")[0] == 200
    assert get_manifest(guarded, "prod/app", str(digest))[0] == 200
    sig_tag = f"sha256-{digest.hex}.sig"  # the signature artifact itself stays pullable
    assert get_manifest(guarded, "prod/app", sig_tag)[0] == 200
    out = wharfie("verify", "--key", str(keys[1]), ref).stdout.decode()
    assert "Verified OK" in out
    puller = tmp_path / "puller"
    assert wharfie("--root", str(puller), "pull", ref).returncode == 0


def test_another_key_or_another_repository_is_denied(wharfie, root, keys, other_keys,
                                                     guarded):
    other = f"{guarded}/prod/other:1"
    with Client(root) as client:
        add_image(client.store, other, seed=64, compression="gzip")
    wharfie("push", "--sign-by", str(other_keys[0]), other, env=PASSWORD)
    status, body = get_manifest(guarded, "prod/other", "1")
    assert status == 403, body
    assert "none made by the key" in body["errors"][0]["message"]

    origin = f"{guarded}/prod/origin:1"
    with Client(root) as client:
        add_image(client.store, origin, seed=65, compression="gzip")
    wharfie("push", "--sign-by", str(keys[0]), origin, env=PASSWORD)
    digest = Client(root).push(origin).digest
    sig_tag = f"sha256-{digest.hex}.sig"
    wharfie("copy", f"docker://{origin}", f"docker://{guarded}/prod/copy:1")
    wharfie("copy", f"docker://{guarded}/prod/origin:{sig_tag}",
            f"docker://{guarded}/prod/copy:{sig_tag}")
    status, body = get_manifest(guarded, "prod/copy", "1")
    assert status == 403, body
    assert "signature is for another repository" in body["errors"][0]["message"]


def test_platforms_of_a_signed_index_are_served(wharfie, root, keys, guarded):
    """``sign`` without ``-a`` signs the index only; a pull then fetches a platform by
    digest, which is served because a signed index in the repository lists it."""
    from wharfie.testing.random import index
    from wharfie.transports.push import push_target

    multi = index(["linux/amd64", "linux/arm64"], seed=66, compression="gzip")
    children = multi.children

    ref = f"{guarded}/prod/multi:1"
    with Client(root) as client:
        client.images()  # the store exists before push_target makes scratch space in it
        push_target(client.store, multi, parse_reference(ref), client.registries)
    child = str(children[0].digest)
    assert get_manifest(guarded, "prod/multi", child)[0] == 403
    sign_as_cosign(root, keys, parse_reference(ref), multi.digest)
    assert get_manifest(guarded, "prod/multi", "1")[0] == 200
    assert get_manifest(guarded, "prod/multi", child)[0] == 200



def sign_as_cosign(root, keys, ref, digest) -> None:
    """What ``wharfie sign`` writes, without reading the (guarded) image first."""
    from wharfie.signing.attach import Attached, signature_image, signature_ref
    from wharfie.signing.keys import load_private_key, sign
    from wharfie.signing.payload import make_payload
    from wharfie.transports.push import push_target

    private = load_private_key(keys[0].read_bytes(), b"s3cret")
    payload = make_payload(ref.name, digest)
    with Client(root) as client:
        push_target(client.store, signature_image([Attached(payload, sign(private, payload))]),
                    signature_ref(ref, digest), client.registries)


def test_bad_key_in_the_policy_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="require_signatures rule 1: public key .*missing.pub "
                       "does not exist"):
        Policy.from_dict({"require_signatures": [{"repos": ["*"], "keys": ["missing.pub"]}]},
                         base=tmp_path)
    with pytest.raises(InvalidInput, match="repos and keys must be non-empty lists"):
        Policy.from_dict({"require_signatures": [{"repos": ["*"], "keys": []}]})


def test_a_bundle_referrer_by_the_key_is_a_signature_too(root, keys, other_keys, guarded):
    """An image whose only signature is a Sigstore bundle referrer (cosign v3's layout) is
    served when the bundle is by a listed key, and refused when by another."""
    from wharfie.oci.manifest import Descriptor
    from wharfie.signing.bundle import bundle_artifact, make_bundle
    from wharfie.signing.keys import load_private_key
    from wharfie.transports.push import push_target
    from wharfie.transports.registry.client import RegistryOptions

    def bundle(ref: str, key_path) -> None:
        """The local manifest (pushed as it is) signed into a bundle, pushed as its
        referrer (the server refuses the unsigned manifest to ``sign --bundle``)."""
        key = load_private_key(key_path.read_bytes(), b"s3cret")
        name = parse_reference(ref)
        with Client(root) as client:
            raw, media_type = client.store.open_target(ref).manifest_bytes()
            subject = Descriptor(media_type, Digest.of(raw), len(raw))
            artifact = bundle_artifact(make_bundle(key, raw), subject)
            push_target(client.store, artifact, name.with_digest(artifact.digest),
                        RegistryOptions())

    ref = f"{guarded}/prod/bundled:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=71, compression="gzip")
        client.push(ref)
    assert get_manifest(guarded, "prod/bundled", "1")[0] == 403
    bundle(ref, other_keys[0])
    status, body = get_manifest(guarded, "prod/bundled", "1")
    assert status == 403 and "no signature found" in body["errors"][0]["message"]
    bundle(ref, keys[0])
    assert get_manifest(guarded, "prod/bundled", "1")[0] == 200
