"""Signing keys in cosign's files: ``cosign.key`` (encrypted PKCS#8) and ``cosign.pub``.

The private key is PKCS#8 DER sealed as go-securesystemslib's ``encrypted`` package does:
a JSON document naming the KDF (scrypt, salt, N/r/p) and the cipher (NaCl secretbox, nonce),
with the ciphertext, all byte strings in base64. cosign v2 labels the PEM block
``ENCRYPTED SIGSTORE PRIVATE KEY``; cosign v1 (and skopeo 1.9's reader) ``ENCRYPTED COSIGN
PRIVATE KEY``; both are read, and a plain ``PRIVATE KEY`` too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from wharfie.errors import InvalidInput, NotFound

SIGSTORE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
PASSWORD_VARIABLES = ("WHARFIE_PASSWORD", "COSIGN_PASSWORD")

# go-securesystemslib's accepted scrypt strengths (legacy, standard, OWASP); we write standard
SCRYPT_STRENGTHS = ({"N": 32768, "r": 8, "p": 1}, {"N": 65536, "r": 8, "p": 1},
                    {"N": 131072, "r": 8, "p": 1})
SCRYPT_STANDARD = SCRYPT_STRENGTHS[1]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class KeyFileError(InvalidInput):
    """A key file that can't be read, or a wrong password."""


@dataclass(frozen=True)
class KeyPair:
    """The two files ``wharfie key generate`` writes, as bytes."""

    private_pem: bytes
    public_pem: bytes


def password_from_env() -> bytes | None:
    """``WHARFIE_PASSWORD``, else ``COSIGN_PASSWORD`` (set, even empty), else None."""
    for name in PASSWORD_VARIABLES:
        if name in os.environ:
            return os.environ[name].encode()
    return None


def generate_key_pair(password: bytes, *, pem_type: str = SIGSTORE_PEM) -> KeyPair:
    """A new ECDSA P-256 key: the private half encrypted with ``password``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(encrypt_private_key(key, password, pem_type=pem_type),
                   public_key_pem(key.public_key()))


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def encrypt_private_key(key: PrivateKey, password: bytes, *, pem_type: str = SIGSTORE_PEM) -> bytes:
    """PKCS#8 DER sealed with scrypt + secretbox, in the PEM block cosign writes."""
    import nacl.secret
    import nacl.utils

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt = os.urandom(32)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, SCRYPT_STANDARD))
    sealed = box.encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": SCRYPT_STANDARD, "salt": _b64(salt)},
           "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
           "ciphertext": _b64(sealed)}
    return _pem(pem_type, json.dumps(doc, separators=(",", ":")).encode())


def is_encrypted(pem: bytes) -> bool:
    """Whether a key file is cosign's encrypted kind (it needs a password)."""
    return _pem_label(pem) in (SIGSTORE_PEM, COSIGN_PEM)


def load_private_key(pem: bytes, password: bytes | None) -> PrivateKey:
    """A private key from cosign's encrypted PEM (either label) or plain PKCS#8/SEC1."""
    label = _pem_label(pem)
    if label in (SIGSTORE_PEM, COSIGN_PEM):
        if password is None:
            raise KeyFileError("the key is encrypted: give its password")
        der = _open_sealed(_pem_body(pem), password)
        key = serialization.load_der_private_key(der, None)
    else:
        try:
            key = serialization.load_pem_private_key(pem, None)
        except (ValueError, TypeError) as e:
            raise KeyFileError(f"not a private key cosign or wharfie can read ({label or 'no PEM'}): "
                            f"{e}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            rsa.RSAPrivateKey)):
        raise KeyFileError(f"unsupported private key type {type(key).__name__}")
    return key


def load_public_key(pem: bytes) -> PublicKey:
    """An ECDSA, Ed25519 or RSA public key (``PUBLIC KEY`` PEM), or a private key's half."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        if _pem_label(pem) in ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"):
            return load_private_key(pem, None).public_key()
        raise KeyFileError("not a PEM public key") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey,
                            rsa.RSAPublicKey)):
        raise KeyFileError(f"unsupported public key type {type(key).__name__}")
    return key


def read_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """The public key in the file at ``path`` (one clear error if missing or unreadable)."""
    try:
        with open(path, "rb") as f:
            return load_public_key(f.read())
    except FileNotFoundError:
        raise NotFound(f"public key {os.fspath(path)} does not exist") from None
    except KeyFileError as e:
        raise KeyFileError(f"{os.fspath(path)}: {e.message}") from None


def sign(key: PrivateKey, data: bytes) -> bytes:
    """cosign's signature of ``data``: ECDSA/RSA over SHA-256 (DER / PKCS#1 v1.5), Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``data`` (RSA: PKCS#1 v1.5, then PSS)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                key.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()),
                                                        padding.PSS.AUTO), hashes.SHA256())
        else:
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def key_id(key: PublicKey) -> str:
    """A short name for a public key: sha256 of its SubjectPublicKeyInfo, 12 hex digits."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:12]


def _open_sealed(body: bytes, password: bytes) -> bytes:
    import nacl.exceptions
    import nacl.secret

    try:
        doc = json.loads(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = {k: int(kdf["params"][k]) for k in ("N", "r", "p")}
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
        sealed = _unb64(doc["ciphertext"])
    except (ValueError, KeyError, TypeError) as e:
        raise KeyFileError(f"encrypted key is not valid JSON of the expected shape: {e}") from None
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise KeyFileError(f"unsupported key encryption {kdf.get('name')}/{cipher.get('name')}")
    if params not in SCRYPT_STRENGTHS:
        raise KeyFileError(f"unsupported scrypt parameters {params}")
    box = nacl.secret.SecretBox(_scrypt(password, salt, params))
    try:
        return box.decrypt(sealed, nonce)
    except nacl.exceptions.CryptoError:
        raise KeyFileError("decrypting the private key failed: wrong password?") from None


def _scrypt(password: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    n, r, p = params["N"], params["r"], params["p"]
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=128 * n * r * p + (1 << 20))


def _pem(label: str, body: bytes) -> bytes:
    b64 = base64.b64encode(body).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _pem_label(pem: bytes) -> str | None:
    for line in pem.decode("ascii", "replace").splitlines():
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            return line[len("-----BEGIN "):-5]
    return None


def _pem_body(pem: bytes) -> bytes:
    lines = pem.decode("ascii", "replace").splitlines()
    inside = [line for line in lines if line and not line.startswith("-----")
              and ":" not in line]
    return base64.b64decode("".join(inside))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
