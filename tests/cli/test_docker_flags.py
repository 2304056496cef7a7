"""Issue 15: docker's Go flag syntax, exit codes and template errors, through the real CLI."""

from __future__ import annotations

import pytest

from wharfie.testing.random import add_image, tar_layer


@pytest.fixture
def tagged(root):
    from wharfie.images.imagestore import ImageStore

    store = ImageStore(root)
    add_image(store, "t:1", contents=[tar_layer({"a": b"a"})], cmd=["sh", "-c"])
    store.close()
    return "t:1"


@pytest.mark.parametrize("args", [
    ("images", "-q=true"), ("images", "--digests=false", "-q"), ("images", "--no-trunc=1"),
    ("history", "-H=false", "t:1"), ("history", "--no-trunc=true", "-q=True", "t:1"),
    ("rmi", "-f=false", "t:1"),
])
def test_go_flag_syntax_is_accepted(wharfie, tagged, args):
    assert wharfie(*args).returncode == 0


def test_go_flag_values(wharfie, tagged):
    assert wharfie("images", "-q=false", "--format", "{{.Tag}}").stdout == b"1\n"
    assert len(wharfie("images", "--no-trunc=true", "-q").stdout.strip()) == 71
    assert b"WARNING" not in wharfie("history", "-H=0", "t:1").stdout
    raw = wharfie("history", "-H=false", "--format", "{{.Size}}", "t:1").stdout
    assert raw.split() == [b"1"]  # not human: bytes
    res = wharfie("images", "-a=maybe", check=False)
    assert res.returncode == 1
    assert res.stderr.decode().strip().endswith(
        'invalid argument "maybe" for "-a" flag: strconv.ParseBool: parsing "maybe": '
        "invalid syntax")


def test_run_stops_rewriting_at_the_image(wharfie, tagged):
    """``run IMAGE --rm=true`` hands ``--rm=true`` to the container, not to run."""
    from wharfie.cli.group import go_flag_args
    from wharfie.cli.run import run

    assert go_flag_args(run, ["--rm=true", "-e=A=1", "img", "--rm=true"]) == \
        ["--rm", "-e", "A=1", "img", "--rm=true"]


def test_usage_errors_exit_1_and_125_for_run(wharfie):
    assert wharfie("images", "--bogus", check=False).returncode == 1
    assert wharfie("system", "df", "--bogus", check=False).returncode == 1
    assert wharfie("run", "--bogus", check=False).returncode == 125
    res = wharfie(check=False)
    assert res.returncode == 0 and res.stdout.startswith(b"Usage: wharfie")


def test_bad_tag_message_has_no_library_prefix(wharfie, tagged):
    res = wharfie("tag", "t:1", "Bad Tag", check=False)
    assert res.returncode == 1
    assert res.stderr == b"wharfie: error: invalid reference format: repository name must " \
        b"be lowercase\n"


def test_bad_template_is_one_error_line(wharfie, tagged):
    fmt = '{{.Config.Cmd | join ","}}'  # join's arguments swapped by the pipe: crashed
    for cmd in (("inspect", "-f", fmt, "t:1"), ("images", "--format", fmt)):
        res = wharfie(*cmd, check=False)
        assert res.returncode != 0 and res.stdout == b""
        err = res.stderr.decode().splitlines()
        assert len(err) == 1 and err[0].startswith("wharfie: error: template"), err


def test_inspect_size_flag_warns_as_docker(wharfie, tagged):
    res = wharfie("inspect", "-s", "-f", "{{join .Config.Cmd \",\"}}", "t:1")
    assert res.stdout == b"sh,-c\n"
    assert res.stderr == b"WARNING: --size ignored for image\n"


def test_image_pull_and_push_exist(wharfie):
    for sub in ("pull", "push"):
        assert wharfie("image", sub, "--help").stdout.startswith(
            f"Usage: wharfie image {sub}".encode())


@pytest.mark.parametrize("ref", ["127.0.0.1:1/x/y:1", "no-such-host.invalid/x/y:1"])
def test_unreachable_registry_fails_in_under_a_second(wharfie, ref):
    """Connection refused and unresolvable names are not retried (default options)."""
    import time

    t0 = time.monotonic()
    res = wharfie("pull", ref, check=False)
    assert time.monotonic() - t0 < 1.0
    assert res.returncode == 1
    assert res.stderr.decode().startswith("wharfie: error: ")
    assert "cannot connect to the registry" in res.stderr.decode()
