"""containers' ``policy.json``, for the images wharfie pulls from registries.

``{"default": [req...], "transports": {"docker": {SCOPE: [req...]}}}`` where a scope is a
repository (``host/ns/repo``), a namespace, a host, or ``*.domain``, the most specific
winning, and every requirement of the chosen list must hold:
``insecureAcceptAnything``, ``reject``, and ``sigstoreSigned`` (``keyPath`` / ``keyPaths`` /
``keyData``, base64 PEM, and ``signedIdentity``). Other requirement types are refused
when the policy is read, not ignored.

Which policy applies (``policy_from_env``): the file ``$WHARFIE_POLICY``; else, when
``WHARFIE_CONTENT_TRUST=1`` or ``DOCKER_CONTENT_TRUST=1``, every image must be signed by the
configured key: ``$WHARFIE_TRUST_KEY``, else ``ROOT/trust/cosign.pub``; else none.
/etc/containers/policy.json is never read implicitly.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wharfie.errors import InvalidInput, NotFound
from wharfie.oci.digest import Digest
from wharfie.oci.reference import Reference
from wharfie.signing.attach import Attached
from wharfie.signing.identity import SignedIdentity

if TYPE_CHECKING:  # keys and verify load cryptography: only a policy that exists needs them
    from wharfie.signing.keys import PublicKey
    from wharfie.signing.verify import Verified

POLICY_VARIABLE = "WHARFIE_POLICY"
TRUST_VARIABLES = ("WHARFIE_CONTENT_TRUST", "DOCKER_CONTENT_TRUST")
TRUST_KEY_VARIABLE = "WHARFIE_TRUST_KEY"

# (ref, digest) -> the signatures stored for that digest in ref's repository
SignatureLookup = Callable[[Reference, Digest], Sequence[Attached]]


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``accept``, ``reject`` or ``signed`` (by ``keys``, for ``identity``)."""

    kind: str
    keys: tuple[PublicKey, ...] = ()
    identity: SignedIdentity = SignedIdentity()

    def check(self, ref: Reference, digests: Sequence[Digest], lookup: SignatureLookup
              ) -> Verified | None:
        """Raise if ``ref`` fails; a signed requirement holds when any of ``digests`` (the
        top-level one first, then the platform image's) carries a good signature."""
        from wharfie.signing.verify import SignatureRejected, check_signatures

        if self.kind == "accept":
            return None
        if self.kind == "reject":
            raise SignatureRejected(f"{ref.familiar()}: rejected by policy", "policy")
        first: SignatureRejected | None = None
        for digest in dict.fromkeys(digests):
            try:
                return check_signatures(ref, digest, lookup(ref, digest), self.keys,
                                        identity=self.identity)
            except SignatureRejected as e:
                first = first if first and first.reason != "missing" else e
        assert first is not None
        raise first


@dataclass(frozen=True)
class Policy:
    """The requirement lists by scope, and the default one."""

    default: tuple[Requirement, ...]
    scopes: dict[str, tuple[Requirement, ...]]

    @classmethod
    def parse(cls, doc: Any, *, base: Path | None = None) -> Policy:
        if not isinstance(doc, dict) or "default" not in doc:
            raise InvalidInput("policy: a JSON object with a \"default\" list is required")
        transports = doc.get("transports") or {}
        scopes = transports.get("docker") or {}
        if not isinstance(transports, dict) or not isinstance(scopes, dict):
            raise InvalidInput("policy: \"transports\" must map transport -> scope -> list")
        return cls(_requirements(doc["default"], "default", base),
                   {scope: _requirements(reqs, scope, base) for scope, reqs in scopes.items()})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise NotFound(f"policy file {os.fspath(path)} does not exist") from None
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise InvalidInput(f"policy file {os.fspath(path)}: invalid JSON: {e}") from None
        return cls.parse(doc, base=Path(path).parent)

    @classmethod
    def trusting(cls, key_path: str | os.PathLike[str]) -> Policy:
        """Content trust's policy: every image signed by the key at ``key_path``, for its
        repository (cosign's identity)."""
        from wharfie.signing.keys import read_public_key

        return cls((Requirement("signed", (read_public_key(key_path),),
                                SignedIdentity("matchRepository")),), {})

    def requirements_for(self, ref: Reference) -> tuple[Requirement, ...]:
        """The most specific scope's list: repository, namespaces, host, ``*.domain``."""
        for scope in _scopes(ref):
            if scope in self.scopes:
                return self.scopes[scope]
        return self.scopes.get("", self.default)

    def check(self, ref: Reference, digests: Sequence[Digest], lookup: SignatureLookup
              ) -> list[Verified]:
        """Raise ``SignatureRejected`` unless every requirement for ``ref`` holds."""
        return [v for req in self.requirements_for(ref)
                if (v := req.check(ref, digests, lookup)) is not None]


def policy_from_env(root: Path) -> Policy | None:
    """The policy the environment asks for (see the module's doc), or None."""
    path = os.environ.get(POLICY_VARIABLE)
    if path:
        return Policy.load(path)
    if any(os.environ.get(v, "").strip() in ("1", "true") for v in TRUST_VARIABLES):
        key = os.environ.get(TRUST_KEY_VARIABLE) or root / "trust" / "cosign.pub"
        if not Path(key).is_file():
            raise NotFound(f"content trust is on but there is no key at {os.fspath(key)}: set "
                           f"{TRUST_KEY_VARIABLE} or put the public key at ROOT/trust/cosign.pub")
        return Policy.trusting(key)
    return None


def _scopes(ref: Reference) -> list[str]:
    parts = f"{ref.domain}/{ref.path}".split("/")
    named = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    if ref.tag:
        named.insert(0, f"{ref.domain}/{ref.path}:{ref.tag}")
    host = ref.domain.split(":")[0].split(".")
    wildcards = ["*." + ".".join(host[n:]) for n in range(1, len(host))]
    return named + wildcards


def _requirements(reqs: Any, scope: str, base: Path | None) -> tuple[Requirement, ...]:
    if not isinstance(reqs, list) or not reqs:
        raise InvalidInput(f"policy: scope {scope!r} needs a non-empty list of requirements")
    return tuple(_requirement(r, scope, base) for r in reqs)


def _requirement(doc: Any, scope: str, base: Path | None) -> Requirement:
    from wharfie.signing.keys import load_public_key, read_public_key

    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "insecureAcceptAnything":
        return Requirement("accept")
    if kind == "reject":
        return Requirement("reject")
    if kind != "sigstoreSigned":
        raise InvalidInput(f"policy: scope {scope!r}: unsupported requirement type {kind!r}")
    keys: list[PublicKey] = []
    paths = doc.get("keyPaths") or ([doc["keyPath"]] if "keyPath" in doc else [])
    for p in paths:
        keys.append(read_public_key(Path(base or ".") / p if not os.path.isabs(p) else p))
    if "keyData" in doc:
        try:
            keys.append(load_public_key(base64.b64decode(doc["keyData"], validate=True)))
        except (binascii.Error, ValueError, TypeError):
            raise InvalidInput(f"policy: scope {scope!r}: keyData is not base64") from None
    if not keys:
        raise InvalidInput(f"policy: scope {scope!r}: sigstoreSigned needs keyPath, keyPaths "
                           "or keyData (keyless fulcio is not supported yet)")
    return Requirement("signed", tuple(keys), SignedIdentity.parse(doc.get("signedIdentity")))


def pull_verifier(policy: Policy, lookup: SignatureLookup) -> Callable[..., None]:
    """The check ``pull_image`` runs before storing: the policy for (ref, digests)."""
    def verify(ref: Reference, digests: Sequence[Digest]) -> None:
        policy.check(ref, digests, lookup)
    return verify
