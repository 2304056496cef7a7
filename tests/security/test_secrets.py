"""Secret scanning: credentials in every layer (also files a later layer deleted, which
still ship) and in the config, each traced to the step that wrote it; and no false
positive on a real Debian minbase and on busybox."""

from __future__ import annotations

import pytest

from wharfie.api import Client
from wharfie.security.secrets import scan_secrets, scan_text
from wharfie.testing.random import add_image

# Well-formed but made up; assembled so this file holds none of them literally.
AWS_ID = "AKIA" + "Q3EGRTJ5WXKZ7P2M"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ8v2Lk4Hn"
GITHUB = "ghp_" + "x7Kq2Lm9Np4Rs6Tv8Wy1Zb3Cd5Fg0Hj7Kl9M"
STEPS = [{"created_by": "ADD rootfs.tar /"},
         {"created_by": "RUN write-credentials /root/.aws/credentials"},
         {"created_by": "ENV PATH=/usr/bin", "empty_layer": True},
         {"created_by": "RUN rm /root/.aws/credentials"}]


def test_secret_deleted_in_a_later_layer_is_found_with_its_writing_step(root):
    creds = (f"[default]\naws_access_key_id = {AWS_ID}\n"
             f"aws_secret_access_key = {AWS_SECRET}\n").encode()
    with Client(root) as client:
        add_image(client.store, "app:leaky", history=STEPS, files=[
            {"etc/os-release": b"ID=debian\n", "srv/app.conf": b"user=app\n"},
            {"root/.aws/credentials": creds, "srv/github": f"GH={GITHUB}\n".encode()},
            {"root/.aws/.wh.credentials": b""}],
            config={"Env": [f"GITHUB_TOKEN={GITHUB}"]})
        found = scan_secrets(client.image("app:leaky"))
    got = {(f.rule, f.path, f.line, f.layer, f.step, f.removed_in) for f in found}
    write = "RUN write-credentials /root/.aws/credentials"
    assert got == {
        ("github-pat", "config:Env", 1, None, "", None),
        ("aws-access-key-id", "root/.aws/credentials", 2, 1, write, 2),
        ("aws-secret-access-key", "root/.aws/credentials", 3, 1, write, 2),
        ("github-pat", "srv/github", 1, 1, write, None)}
    for f in found:  # masked: a prefix to recognise it, never the secret
        assert f.match.strip("*") in (AWS_ID[:4], AWS_SECRET[:4], GITHUB[:4])


@pytest.mark.parametrize("text, rule", [
    ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
     "AAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n", "private-key"),
    ("token: github_pat_" + "11ABCDEFG0" * 8 + "ab", "github-fine-grained-pat"),
    ("CI_TOKEN=glpat-" + "Ab3dEf6hIj9kLm2nOp5q", "gitlab-pat"),
    ("SLACK=xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack-token"),
    ("//registry.npmjs.org/:_authToken=npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
     "npm-token"),
    ("password = pypi-AgEIcHlwaS5vcmc" + "CJDk4ZmEyNWI1LTBhYjgtNDY1Ny1hYTM4LWE1ZTRmYjc5ZDdkNzA4",
     "pypi-token"),
    ('DB_PASSWORD="q8Zt3vN1xR7wLm2K"', "generic-secret"),
])
def test_each_rule(text, rule):
    assert rule in {r.id for r, _, _ in scan_text(text)}


@pytest.mark.parametrize("text", [
    "password = getpass.getpass()", "token=${GITHUB_TOKEN}", "secret: changeme-please",
    "PASSWORD=aaaaaaaaaaaaaaaa1", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEF\n",
    "AKIAEXAMPLE", "api_key = os.environ['API_KEY']",
])
def test_no_secret_in_lookalikes(text):
    assert list(scan_text(text)) == []


@pytest.mark.slow
def test_no_false_positive_on_debian_and_busybox(root, debian_py_rootfs_tar,
                                                 busybox_rootfs_tar):
    with Client(root) as client:
        client.import_image(debian_py_rootfs_tar, "deb:py")
        client.import_image(busybox_rootfs_tar, "busybox:local")
        found = {ref: scan_secrets(client.image(ref)) for ref in ("deb:py", "busybox:local")}
    assert found == {"deb:py": [], "busybox:local": []}
