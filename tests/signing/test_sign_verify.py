"""wharfie key/sign/verify against Debian's docker-registry on loopback, through the CLI."""

from __future__ import annotations

import json

from wharfie.api import Client
from wharfie.testing.random import add_image

from .conftest import PASSWORD, error_line, pushed


def test_sign_then_verify_shows_digest_and_annotations(wharfie, root, keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/app")
    signed = wharfie("sign", "--key", str(keys[0]), "--annotation", "team=blue", ref,
                     env=PASSWORD).stdout.decode()
    res = wharfie("verify", "--key", str(keys[1]), "--format", "json", ref)
    verdict = json.loads(res.stdout)
    assert verdict["digest"] in signed
    assert verdict["identity"] == f"{docker_registry}/sig/app"
    assert verdict["annotations"] == {"team": "blue"}
    tags = Client(root).tags(f"{docker_registry}/sig/app")
    assert f"sha256-{verdict['digest'].split(':')[1]}.sig" in tags


def test_verify_unsigned_image_fails_with_missing(wharfie, root, keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/unsigned")
    res = wharfie("verify", "--key", str(keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "no signature found" in error_line(res)


def test_verify_with_another_key_fails(wharfie, root, keys, other_keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/otherkey")
    wharfie("sign", "--key", str(other_keys[0]), ref, env=PASSWORD)
    res = wharfie("verify", "--key", str(keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "none made by the key" in error_line(res)


def test_signature_for_another_digest_is_refused(wharfie, root, keys, docker_registry):
    """A good signature (right key, right repository) over another image's digest, copied
    under this image's .sig tag, is refused as being for another image."""
    from wharfie.oci.reference import parse_reference
    from wharfie.signing.attach import Attached, signature_image, signature_ref
    from wharfie.signing.keys import load_private_key, sign
    from wharfie.signing.payload import make_payload
    from wharfie.transports.push import push_target

    ref_a = pushed(root, docker_registry, "sig/digest", seed=1)
    ref_b = f"{docker_registry}/sig/digest:2"
    with Client(root) as client:
        add_image(client.store, ref_b, seed=2, compression="gzip")
        client.push(ref_b)
        a, b = client.image(ref_a).digest, client.image(ref_b).digest
        private = load_private_key(keys[0].read_bytes(), b"s3cret")
        payload = make_payload(f"{docker_registry}/sig/digest", a)
        push_target(client.store, signature_image([Attached(payload, sign(private, payload))]),
                    signature_ref(parse_reference(ref_b), b), client.registries)
    assert wharfie("verify", "--key", str(keys[1]), ref_a, check=False).returncode != 0
    res = wharfie("verify", "--key", str(keys[1]), ref_b, check=False)
    assert res.returncode != 0
    assert f"it signs digest {a}, the image is {b}" in error_line(res)


def test_signature_for_another_repository_is_refused(wharfie, root, keys, docker_registry):
    """An image and its .sig copied to another repository keep the first one's identity."""
    ref = pushed(root, docker_registry, "sig/origin")
    wharfie("sign", "--key", str(keys[0]), ref, env=PASSWORD)
    digest = Client(root).image(ref).digest
    sig_tag = f"sha256-{digest.hex}.sig"
    copy = f"{docker_registry}/sig/elsewhere"
    wharfie("copy", f"docker://{ref}", f"docker://{copy}:1")
    wharfie("copy", f"docker://{docker_registry}/sig/origin:{sig_tag}",
            f"docker://{copy}:{sig_tag}")
    res = wharfie("verify", "--key", str(keys[1]), f"{copy}:1", check=False)
    assert res.returncode != 0
    assert "signature is for another repository" in error_line(res)
    assert f"'{docker_registry}/sig/origin'" in error_line(res)


def test_tampered_manifest_is_refused(wharfie, root, keys, docker_registry_factory):
    """The registry serves manifest bytes that do not hash to the digest it names."""
    registry = docker_registry_factory()
    ref = pushed(root, registry.host, "sig/tamper")
    wharfie("sign", "--key", str(keys[0]), ref, env=PASSWORD)
    digest = Client(root).image(ref).digest
    blob = (registry.data / "docker/registry/v2/blobs/sha256" / digest.hex[:2] / digest.hex
            / "data")
    doc = json.loads(blob.read_bytes())
    doc["annotations"] = {"evil": "yes"}
    blob.write_bytes(json.dumps(doc).encode())
    res = wharfie("verify", "--key", str(keys[1]), ref, check=False)
    assert res.returncode != 0
    assert "manifest tampered with" in error_line(res)


def test_local_signature_is_carried_by_push(wharfie, root, keys, docker_registry):
    ref = f"{docker_registry}/sig/local:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=5, compression="gzip")
    wharfie("sign", "--local", "--key", str(keys[0]), ref, env=PASSWORD)
    wharfie("verify", "--local", "--key", str(keys[1]), ref)
    assert wharfie("verify", "--key", str(keys[1]), ref, check=False).returncode != 0
    wharfie("push", ref)
    out = wharfie("verify", "--key", str(keys[1]), ref).stdout.decode()
    assert "Verified OK" in out


def test_a_locally_signed_uncompressed_image_keeps_its_digest_and_signature(
        wharfie, root, keys, docker_registry):
    """Push gzips uncompressed layers, which changes the digest a signature names: a signed
    image goes up as it is (and --force-compression is refused), so the signature holds."""
    ref = f"{docker_registry}/sig/plain:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=9, compression="none")
        local = client.store.open_target(ref).digest
    wharfie("sign", "--local", "--key", str(keys[0]), ref, env=PASSWORD)
    res = wharfie("push", "--force-compression", ref, check=False)
    assert res.returncode != 0 and "is signed" in error_line(res)
    wharfie("push", ref)
    out = wharfie("verify", "--key", str(keys[1]), ref).stdout.decode()
    assert "Verified OK" in out and str(local) in out


def test_push_sign_by_signs_at_push_time(wharfie, root, keys, docker_registry):
    ref = f"{docker_registry}/sig/pushsign:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=6, compression="gzip")
    wharfie("push", "--sign-by", str(keys[0]), ref, env=PASSWORD)
    wharfie("verify", "--key", str(keys[1]), ref)


def test_wrong_password_is_one_clear_error(wharfie, root, keys, docker_registry):
    ref = pushed(root, docker_registry, "sig/pw")
    res = wharfie("sign", "--key", str(keys[0]), ref, env={"WHARFIE_PASSWORD": "nope"},
                  check=False)
    assert res.returncode != 0
    assert error_line(res) == ("wharfie: error: decrypting the private key failed: "
                               "wrong password?")
    assert "Traceback" not in res.stderr.decode()


def test_recursive_signs_every_manifest_of_an_index(wharfie, root, keys, docker_registry):
    from wharfie.oci.reference import parse_reference
    from wharfie.testing.random import index
    from wharfie.transports.push import push_target

    multi = index(["linux/amd64", "linux/arm64"], seed=51, compression="gzip")
    children = multi.children

    ref = f"{docker_registry}/sig/multi:1"
    with Client(root) as client:
        push_target(client.store, multi, parse_reference(ref), client.registries)
    repo = f"{docker_registry}/sig/multi"
    wharfie("sign", "--key", str(keys[0]), ref, env=PASSWORD)
    child = f"{repo}@{children[1].digest}"
    assert wharfie("verify", "--key", str(keys[1]), child, check=False).returncode != 0
    out = wharfie("sign", "-a", "--key", str(keys[0]), ref, env=PASSWORD).stdout.decode()
    assert out.count("Signed ") == 3
    for c in children:
        wharfie("verify", "--key", str(keys[1]), f"{repo}@{c.digest}")
    wharfie("verify", "--key", str(keys[1]), ref)


def test_images_lists_a_local_signature(wharfie, root, keys):
    """The .sig manifest (Go's zero time as its creation date) lists like any image."""
    ref = "localhost:5999/sig/listed:1"
    with Client(root) as client:
        add_image(client.store, ref, seed=7, compression="gzip")
    wharfie("sign", "--local", "--key", str(keys[0]), ref, env=PASSWORD)
    listed = wharfie("images", "--format", "{{.Tag}} {{.CreatedAt}}").stdout.decode()
    assert "0001-01-01 00:00:00 +0000 UTC" in listed
    assert ".sig " in listed
