"""fs.inroot.clean_name: the one rule for archive and import names staying in the root."""

from __future__ import annotations

import pytest

from wharfie.fs.inroot import clean_name


@pytest.mark.parametrize("name, clean", [
    ("a/./b/../c", "a/c"), ("/etc/passwd", "etc/passwd"), ("./", ""), ("", ""),
    ("a/..", ""), ("//x//y/", "x/y"),
])
def test_names_inside_the_root_are_normalized(name, clean):
    assert clean_name(name) == clean


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "/../etc", "./.."])
def test_names_climbing_out_are_refused(name):
    assert clean_name(name) is None
