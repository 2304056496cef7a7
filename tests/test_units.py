"""Sizes read as Docker reads them, with IEC units always binary."""

import pytest

from wharfie.errors import InvalidInput
from wharfie.units import parse_size


@pytest.mark.parametrize("text, binary, want", [
    ("1024", False, 1024), ("512MB", False, 512_000_000), ("2g", False, 2_000_000_000),
    ("10 kB", False, 10_000), ("1.5GiB", False, 3 << 29), ("64m", True, 64 << 20),
    ("1k", True, 1024), ("3", True, 3), (7, False, 7),
])
def test_sizes(text, binary, want):
    assert parse_size(text, binary=binary) == want


@pytest.mark.parametrize("text", ["", "x", "1q", "-1", "1.2.3m", "m"])
def test_bad_sizes_are_clear_errors(text):
    with pytest.raises(InvalidInput, match="invalid size"):
        parse_size(text)
