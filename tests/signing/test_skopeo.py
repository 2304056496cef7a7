"""skopeo (Debian's 1.9) reads wharfie's signatures as sigstore attachments.

Debian builds containers/image with sigstore signing and verification disabled
("Debian-local change: sigstore disabled"), so its skopeo cannot check the cryptography:
what it can show is that it finds each wharfie signature at cosign's ``.sig`` tag with the
sigstore signature media type and hands it to the verifier, where an unsigned image has none.
"""

from __future__ import annotations

import json
import subprocess

from .conftest import PASSWORD, pushed

DEBIAN_DISABLED = "Debian-local change: sigstore disabled"


def skopeo_copy(ref: str, registry: str, public_key, tmp_path) -> subprocess.CompletedProcess:
    """``skopeo copy`` under a sigstoreSigned policy reading attachments from ``registry``."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{
        "type": "sigstoreSigned", "keyPath": str(public_key),
        "signedIdentity": {"type": "matchRepository"}}]}))
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir(exist_ok=True)
    (registries_d / "local.yaml").write_text(
        f"docker:\n  {registry}:\n    use-sigstore-attachments: true\n")
    out = tmp_path / f"out-{abs(hash(ref))}"
    return subprocess.run(
        ["skopeo", "copy", "--policy", str(policy), "--registries.d", str(registries_d),
         "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}"],
        capture_output=True, text=True, timeout=120)


def test_skopeo_finds_wharfie_signatures(wharfie, root, keys, docker_registry, tmp_path):
    unsigned = pushed(root, docker_registry, "skopeo/unsigned", seed=41)
    res = skopeo_copy(unsigned, docker_registry, keys[1], tmp_path)
    assert res.returncode != 0
    assert "A signature was required, but no signature exists" in res.stderr
    signed = pushed(root, docker_registry, "skopeo/signed", seed=42)
    wharfie("sign", "--key", str(keys[0]), "--annotation", "n=1", signed, env=PASSWORD)
    wharfie("sign", "--key", str(keys[0]), "--annotation", "n=2", signed, env=PASSWORD)
    res = skopeo_copy(signed, docker_registry, keys[1], tmp_path)
    if res.returncode != 0:  # Debian's skopeo: both signatures found, then not checkable
        assert "None of the signatures were accepted" in res.stderr, res.stderr
        assert res.stderr.count(DEBIAN_DISABLED) == 2, res.stderr
