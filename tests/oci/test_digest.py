import pytest

from wharfie.errors import InvalidDigest
from wharfie.oci.digest import Digest


def test_of_bytes_and_parts():
    d = Digest.of(b"")
    assert d == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert d.algorithm == "sha256" and d.short == "e3b0c44298fc"
    assert Digest.of(b"", "sha512").hex.startswith("cf83e1357eefb8bd")


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64,
                                 "nocolon", "sha512:" + "a" * 64, ""])
def test_rejects_malformed(bad):
    with pytest.raises(InvalidDigest):
        Digest(bad)
