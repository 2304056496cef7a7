"""Dataclass methods compiled once, then kept for the next run (cli/codecache.py)."""

import os
import subprocess
import sys

from wharfie.cli.codecache import HEADER

# Runs ``wharfie images`` as the entry point does and reports how many dataclass methods
# were compiled (the audit event ``compile`` names their text, which starts with
# ``def __create_fn__``), where the cache lives and what the command printed.
_PROBE = """
import runpy, sys
compiled = []

def hook(event, args):
    if event == "compile" and args[0] is not None:
        text = args[0] if isinstance(args[0], bytes) else str(args[0]).encode()
        if text.startswith(b"def __create_fn__"):
            compiled.append(1)

sys.addaudithook(hook)
sys.argv = ["wharfie", *sys.argv[1:]]
try:
    runpy.run_module("wharfie", run_name="__main__", alter_sys=True)
except SystemExit as e:
    assert not e.code, e.code
from wharfie.cli import codecache
print(len(compiled), codecache.path(), sep="\\n")
"""


def run_images(tmp_path, *args: str, **env_changes: str | None) -> tuple[int, str, list[str], str]:
    """(dataclass methods compiled, the cache's path, its output, its stderr) of one
    ``wharfie images`` (or ``wharfie ARGS``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    env["WHARFIE_ROOT"] = str(tmp_path / "root")
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    res = subprocess.run([sys.executable, "-c", _PROBE, *(args or ("images",))], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    *output, count, path = res.stdout.splitlines()
    return int(count), path, output, res.stderr


def test_the_second_run_compiles_no_dataclass_method(tmp_path):
    first, path, output, _ = run_images(tmp_path)
    assert first > 20  # the store's, the API's and the CLI's dataclasses
    assert path.startswith(str(tmp_path / "pycache"))  # beside the bytecode
    assert path.endswith(".images.dataclasses")  # its own: a command reads only its classes
    with open(path, "rb") as f:
        assert f.read(len(HEADER)) == HEADER
    second, _, again, stderr = run_images(tmp_path)
    assert second == 0
    assert again == output and again[0].startswith("REPOSITORY") and stderr == ""


def test_each_command_keeps_its_own_and_the_rest_share_one(tmp_path):
    assert run_images(tmp_path)[0] > 20
    compiled, path, output, _ = run_images(tmp_path, "system", "df")
    assert compiled > 0 and path.endswith(".system.dataclasses") and output[0].startswith("TYPE")
    # global flags first: no subcommand name to go by, one shared cache
    compiled, path, _, _ = run_images(tmp_path, "--debug", "images")
    assert compiled > 20 and path.endswith(".command.dataclasses")
    assert run_images(tmp_path, "--debug", "images")[0] == 0


def test_a_damaged_cache_is_compiled_around_and_replaced(tmp_path):
    path = run_images(tmp_path)[1]
    with open(path, "wb") as f:
        f.write(HEADER + b"\xff not marshal")
    compiled, _, _, stderr = run_images(tmp_path)
    assert compiled > 20 and stderr == ""
    assert run_images(tmp_path)[0] == 0  # the damaged file was replaced by a good one


def test_nothing_is_kept_where_bytecode_is_not_written(tmp_path):
    run_images(tmp_path, PYTHONDONTWRITEBYTECODE="1")
    assert not (tmp_path / "pycache").exists()
    # an unwritable place (a file where the directory would go) is no error either
    (tmp_path / "blocked").write_text("")
    compiled, _, _, stderr = run_images(tmp_path, PYTHONPYCACHEPREFIX=str(tmp_path / "blocked"))
    assert compiled > 20 and stderr == ""
    assert run_images(tmp_path, PYTHONPYCACHEPREFIX=str(tmp_path / "blocked"))[0] == compiled


# A class made through the cache behaves as dataclasses made it: the cache only skips the
# compiling. Two classes with the same fields share one compiled text.
_SAME_CLASS = """
import dataclasses, sys
from wharfie.cli import codecache

def plain():
    @dataclasses.dataclass
    class Plain:
        x: int
        y: "list[str]" = dataclasses.field(default_factory=list)
    return Plain

stock = plain()
codecache.install()
cached = plain()  # the same text: annotations and the signature in __doc__ as stock's
assert cached.__init__.__annotations__ == stock.__init__.__annotations__, \
    cached.__init__.__annotations__
assert cached.__doc__ == stock.__doc__, cached.__doc__

def make():
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0
    return Point

P, Q = make(), make()
p = P(1, 2)
assert (p, repr(p), hash(p)) == (P(1, 2), "make.<locals>.Point(x=1, y=2)", hash((1, 2)))
try:
    p.x = 3
except dataclasses.FrozenInstanceError:
    pass
else:
    sys.exit("a frozen class took an assignment")
print(P.__init__ is not Q.__init__, P.__init__.__code__ is Q.__init__.__code__,
      len(codecache._used))
"""


def test_a_class_made_through_the_cache_behaves_as_dataclasses_makes_it(tmp_path):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run([sys.executable, "-c", _SAME_CLASS], env=env, capture_output=True,
                         text=True, check=True)
    # each class has its own functions, made from one compiled text each (init, repr, eq,
    # setattr, delattr, hash); Plain, with the same field names, adds only its __init__
    assert res.stdout.split() == ["True", "True", "7"]
