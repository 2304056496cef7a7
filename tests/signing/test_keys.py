"""Key files as cosign writes and reads them, and the key types that sign and verify."""

from __future__ import annotations

import base64
import hashlib
import json
import stat

import nacl.secret
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from wharfie.signing import keys as k

from .conftest import PASSWORD, error_line, pushed


def pem_body(path) -> tuple[str, bytes]:
    lines = path.read_text().strip().splitlines()
    return lines[0], base64.b64decode("".join(lines[1:-1]))


def test_generated_key_is_cosigns_encrypted_format(keys):
    """Decrypted here with PyNaCl and hashlib only, following go-securesystemslib's JSON."""
    private, public = keys
    header, body = pem_body(private)
    assert header == "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"
    doc = json.loads(body)
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert doc["cipher"]["name"] == "nacl/secretbox"
    salt, nonce = base64.b64decode(doc["kdf"]["salt"]), base64.b64decode(doc["cipher"]["nonce"])
    assert (len(salt), len(nonce)) == (32, 24)
    box_key = hashlib.scrypt(b"s3cret", salt=salt, n=65536, r=8, p=1, dklen=32,
                             maxmem=128 << 20)
    der = nacl.secret.SecretBox(box_key).decrypt(base64.b64decode(doc["ciphertext"]), nonce)
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert public.read_bytes() == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_key_generate_does_not_overwrite(wharfie, keys):
    before = keys[0].read_bytes()
    res = wharfie("key", "generate", "--output-key-prefix", str(keys[0].with_suffix("")),
                  env=PASSWORD, check=False)
    assert res.returncode != 0 and "already exists" in error_line(res)
    assert keys[0].read_bytes() == before


def test_cosign_v1_label_is_read():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = k.encrypt_private_key(key, b"pw", pem_type=k.COSIGN_PEM)
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert k.load_private_key(pem, b"pw").private_numbers() == key.private_numbers()


def test_unknown_scrypt_strength_is_refused():
    pem = k.encrypt_private_key(ec.generate_private_key(ec.SECP256R1()), b"pw")
    doc = json.loads(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    doc["kdf"]["params"]["N"] = 1024
    with pytest.raises(k.KeyFileError, match="unsupported scrypt parameters"):
        k.load_private_key(k._pem(k.SIGSTORE_PEM, json.dumps(doc).encode()), b"pw")


@pytest.mark.parametrize("make", [
    lambda: ec.generate_private_key(ec.SECP256R1()),
    lambda: ed25519.Ed25519PrivateKey.generate(),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
], ids=["ecdsa-p256", "ed25519", "rsa-2048"])
def test_plain_pkcs8_keys_sign_and_verify(make, wharfie, root, docker_registry, tmp_path):
    key = make()
    private, public = tmp_path / "plain.key", tmp_path / "plain.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(k.public_key_pem(key.public_key()))
    ref = pushed(root, docker_registry, f"keys/{type(key).__name__.lower()}")
    wharfie("sign", "--key", str(private), ref)
    assert "Verified OK" in wharfie("verify", "--key", str(public), ref).stdout.decode()
