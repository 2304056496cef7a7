"""Shell completion: the scripts, and image names from the store in click's protocol."""

from __future__ import annotations

import pytest


def complete(wharfie, words: str) -> list[str]:
    """What bash completion offers for ``words`` (the last one being completed)."""
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    res = wharfie(env={"COMP_WORDS": words, "COMP_CWORD": cword,
                       "_WHARFIE_COMPLETE": "bash_complete"})
    return [line.split(",", 1)[1] for line in res.stdout.decode().splitlines() if "," in line]


def test_image_arguments_complete_from_the_store(wharfie, busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "busybox:1.36")
    wharfie("tag", "busybox:1.36", "registry.example:5000/tools/bb:2")
    assert complete(wharfie, "wharfie rmi bu") == ["busybox:1.36"]
    assert complete(wharfie, "wharfie run reg") == ["registry.example:5000/tools/bb:2"]
    assert complete(wharfie, "wharfie history ") == [
        "busybox:1.36", "registry.example:5000/tools/bb:2"]
    assert complete(wharfie, "wharfie im") == ["image", "images", "import"]
    assert "--read-only" in complete(wharfie, "wharfie run --re")


def test_completing_never_creates_a_store(wharfie, root):
    assert complete(wharfie, "wharfie rmi ") == []
    assert not root.exists()


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F"),
                                           ("zsh", "#compdef wharfie"),
                                           ("fish", "complete --no-files --command wharfie")])
def test_completion_scripts(wharfie, shell, marker):
    script = wharfie("completion", shell).stdout.decode()
    assert marker in script and "_WHARFIE_COMPLETE" in script


def test_unknown_shell_is_refused(wharfie):
    res = wharfie("completion", "tcsh", check=False)
    assert res.returncode != 0 and b"tcsh" in res.stderr
