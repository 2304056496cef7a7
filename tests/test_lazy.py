"""Packages whose names load on first use (wharfie/lazy.py)."""

import subprocess
import sys

import pytest

from wharfie.lazy import on_first_use


def test_a_name_loads_from_its_submodule_and_an_unknown_one_is_refused():
    getattr_ = on_first_use("wharfie.oci", {"Digest": "digest"})
    from wharfie.oci.digest import Digest

    assert getattr_("Digest") is Digest
    with pytest.raises(AttributeError, match="module 'wharfie.oci' has no attribute 'Nope'"):
        getattr_("Nope")


def test_one_submodule_imports_without_running_its_siblings():
    """``builder.filecopy`` needs ``builder.context.dockerignore``; ``builder.context.tree``
    needs ``filecopy``: were the context package's names eager, importing filecopy first
    would be a cycle (it failed so in a fresh interpreter)."""
    probe = ("import sys, wharfie.builder.filecopy; "
             "print('wharfie.builder.context.tree' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
