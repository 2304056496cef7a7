"""Signature policy on pulls: content trust and containers' policy.json, on docker-registry."""

from __future__ import annotations

import base64
import json

import pytest

from wharfie.api import Client
from wharfie.errors import InvalidInput
from wharfie.signing.policy import Policy

from .conftest import PASSWORD, error_line, pushed


def stored(root) -> list[str]:
    with Client(root) as client:
        return [str(t) for img in client.images(all=True) for t in img.repo_tags]


@pytest.fixture
def fresh_root(tmp_path):
    """A second store to pull into (the first one pushed the images)."""
    return tmp_path / "puller"


def pull(wharfie, root, ref, env):
    return wharfie("--root", str(root), "pull", ref, env=env, check=False)


def test_content_trust_refuses_unsigned_and_accepts_signed(wharfie, root, keys, fresh_root,
                                                           docker_registry):
    unsigned = pushed(root, docker_registry, "dct/unsigned", seed=11)
    signed = pushed(root, docker_registry, "dct/signed", seed=12)
    wharfie("sign", "--key", str(keys[0]), signed, env=PASSWORD)
    trust = {"DOCKER_CONTENT_TRUST": "1", "WHARFIE_TRUST_KEY": str(keys[1])}
    res = pull(wharfie, fresh_root, unsigned, trust)
    assert res.returncode != 0
    assert "no signature found" in error_line(res)
    assert stored(fresh_root) == []  # a refused image never lands in the store
    res = pull(wharfie, fresh_root, signed, trust)
    assert res.returncode == 0, res.stderr
    assert stored(fresh_root) == [signed]
    # without content trust the unsigned image pulls as before
    assert pull(wharfie, fresh_root, unsigned, {}).returncode == 0


def test_content_trust_without_a_key_says_where_to_put_it(wharfie, root, fresh_root,
                                                          docker_registry):
    ref = pushed(root, docker_registry, "dct/nokey", seed=13)
    res = pull(wharfie, fresh_root, ref, {"WHARFIE_CONTENT_TRUST": "1"})
    assert res.returncode != 0
    assert "content trust is on but there is no key" in error_line(res)


def test_policy_file_scopes(wharfie, root, keys, other_keys, fresh_root, docker_registry,
                            tmp_path):
    """Per-repository requirements: keyData, keyPath with another key, reject, and the
    accept-anything default."""
    mine = pushed(root, docker_registry, "pol/mine", seed=21)
    theirs = pushed(root, docker_registry, "pol/theirs", seed=22)
    banned = pushed(root, docker_registry, "pol/banned", seed=23)
    free = pushed(root, docker_registry, "other/free", seed=24)
    wharfie("sign", "--key", str(keys[0]), mine, env=PASSWORD)
    wharfie("sign", "--key", str(other_keys[0]), theirs, env=PASSWORD)
    signed = {"type": "sigstoreSigned",
              "keyData": base64.b64encode(keys[1].read_bytes()).decode(),
              "signedIdentity": {"type": "matchRepository"}}
    policy = {"default": [{"type": "insecureAcceptAnything"}],
              "transports": {"docker": {
                  f"{docker_registry}/pol": [signed],
                  f"{docker_registry}/pol/banned": [{"type": "reject"}]}}}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    env = {"WHARFIE_POLICY": str(path)}
    assert pull(wharfie, fresh_root, mine, env).returncode == 0
    res = pull(wharfie, fresh_root, theirs, env)
    assert "none made by the key" in error_line(res)
    res = pull(wharfie, fresh_root, banned, env)
    assert error_line(res).endswith("rejected by policy")
    assert pull(wharfie, fresh_root, free, env).returncode == 0
    assert sorted(stored(fresh_root)) == sorted([mine, free])


def test_policy_default_identity_is_exact_for_tags(keys, tmp_path):
    """containers' default signedIdentity (matchRepoDigestOrExact) wants the tag signed."""
    from wharfie.oci.reference import parse_reference
    from wharfie.signing.identity import SignedIdentity

    rule = SignedIdentity.parse(None)
    image = parse_reference("127.0.0.1:5000/a/b:1")
    assert rule.accepts(image, "127.0.0.1:5000/a/b:1")
    assert not rule.accepts(image, "127.0.0.1:5000/a/b")
    assert rule.accepts(image.with_digest("sha256:" + "0" * 64), "127.0.0.1:5000/a/b")
    assert SignedIdentity.parse({"type": "matchRepository"}).accepts(image, "127.0.0.1:5000/a/b")


@pytest.mark.parametrize("doc, message", [
    ({}, 'a JSON object with a "default" list'),
    ({"default": []}, "non-empty list"),
    ({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}, "unsupported requirement"),
    ({"default": [{"type": "sigstoreSigned"}]}, "needs keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyData": "AA==",
                   "signedIdentity": {"type": "nope"}}]}, "not a PEM public key"),
])
def test_bad_policies_are_refused_when_read(doc, message):
    with pytest.raises(InvalidInput, match=message):
        Policy.parse(doc)


def test_build_from_refuses_an_unsigned_base(root, keys, docker_registry, tmp_path,
                                             monkeypatch):
    base = pushed(root, docker_registry, "dct/base", seed=31)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nLABEL x=1\n")
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "1")
    monkeypatch.setenv("WHARFIE_TRUST_KEY", str(keys[1]))
    builder = Client(tmp_path / "builder-root")
    with pytest.raises(Exception, match="no signature found"):
        builder.build(context, tag="app:1")
    assert builder.images(all=True) == []
    Client(root).sign(base, keys[0], password=b"s3cret")
    assert builder.build(context, tag="app:1").image_id


def test_broken_trust_setup_refuses_pulls_only(wharfie, root, keys, docker_registry):
    """Content trust without a key stops pulls, not signing or other registry calls."""
    ref = pushed(root, docker_registry, "dct/other", seed=14)
    env = {"DOCKER_CONTENT_TRUST": "1", **PASSWORD}
    wharfie("sign", "--key", str(keys[0]), ref, env=env)
    assert "Verified OK" in wharfie("verify", "--key", str(keys[1]), ref,
                                    env=env).stdout.decode()
    assert "no key" in error_line(wharfie("pull", ref, env=env, check=False))
