"""Image signatures in cosign's format, with keys: sign, verify, and a policy for pulls.

``keys`` reads and writes cosign's key files; ``payload`` the simple-signing payload;
``attach`` the ``sha256-<digest>.sig`` layout; ``verify`` the checks and their reasons;
``images`` signs and verifies in a registry or the store; ``policy`` is containers'
policy.json, applied before a pull stores anything. Keyless signing (Fulcio, Rekor) would
be another signer and another kind of requirement beside ``sigstoreSigned``'s keys.
"""
