import pytest

from wharfie.errors import InvalidReference
from wharfie.oci.reference import parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,full,familiar", [
    ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("index.docker.io/library/nginx", "docker.io/library/nginx:latest", "nginx:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
    (f"nginx@{D}", f"docker.io/library/nginx@{D}", f"nginx@{D}"),
    (f"nginx:1@{D}", f"docker.io/library/nginx:1@{D}", f"nginx:1@{D}"),
    ("a.b/c__d/e-f.g", "a.b/c__d/e-f.g:latest", "a.b/c__d/e-f.g:latest"),
])
def test_normalizes_like_docker(text, full, familiar):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize("text,reason", [
    ("Nginx", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("nginx:bad tag", "invalid tag"),
    ("nginx:" + "t" * 129, "invalid tag"),
    ("a" * 64, "64-byte hexadecimal"),
    ("x/" + "a" * 260, "255 characters"),
    ("nginx@sha256:abc", "bad digest"),
    ("a/../b", "invalid reference format"),
    ("", "empty"),
    ("-lead", "invalid reference format"),
])
def test_rejects_invalid_names_with_reason(text, reason):
    with pytest.raises(InvalidReference, match=reason):
        parse_reference(text)


def test_digest_reference_has_no_default_tag():
    ref = parse_reference(f"nginx@{D}")
    assert ref.tag is None and ref.identifier == D


def test_platforms_parse_and_unknown_ones_are_refused():
    from wharfie.errors import WharfieError
    from wharfie.oci.platform import parse_platform

    assert str(parse_platform("linux/arm64")) == "linux/arm64/v8"
    assert str(parse_platform("LINUX/AMD64")) == "linux/amd64"
    for bad in ("garbage", "linux/garbage", "nowhere/amd64", "linux//v7", "a/b/c/d"):
        with pytest.raises(WharfieError, match="invalid platform"):
            parse_platform(bad)


@pytest.mark.parametrize("text", ["busybox:ｖ1.0", "busybox:lаtest", "busybox:v1\n", "busy\nbox"])
def test_homoglyph_tags_and_trailing_newlines_are_refused(text):
    with pytest.raises(InvalidReference):
        parse_reference(text)
