"""The cycle collector over a command's life (cli/collector.py): paused while start-up
loads modules, back on (with start-up frozen) while the command runs."""

import gc
import subprocess
import sys

from click.testing import CliRunner

from wharfie.cli.group import cli

# Runs ``wharfie images -q`` as the entry point does, the command's body wrapped to report
# the collector's state from inside it, then the state at exit.
_PROBE = """
import atexit, gc, sys
import wharfie.cli.images as images
from wharfie.cli.main import run

body = images.images.callback
def spy(*args, **kwargs):
    print("during", gc.isenabled(), gc.get_freeze_count())
    return body(*args, **kwargs)
images.images.callback = spy
atexit.register(lambda: print("exit", gc.isenabled(), gc.get_freeze_count()))
run(["--root", sys.argv[1], "images", "-q"])
"""


def test_a_command_runs_with_the_collector_on_and_start_up_frozen(tmp_path):
    res = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "root")],
                         capture_output=True, text=True, check=True)
    (during, on, frozen), (at_exit, still_on, frozen_at_exit) = \
        [line.split() for line in res.stdout.splitlines()]
    assert (during, at_exit) == ("during", "exit")
    # on while the command runs (a long one, ``registry serve``, must not hoard cycles),
    # with the thousands of start-up objects frozen out of its way
    assert on == "True" and int(frozen) > 1000
    # at exit, what the command made is frozen too: the last collection has nothing to walk
    assert still_on == "True" and int(frozen_at_exit) > int(frozen)


def test_a_command_run_in_process_leaves_the_collector_alone(tmp_path):
    frozen = gc.get_freeze_count()
    res = CliRunner().invoke(cli, ["--root", str(tmp_path / "root"), "images", "-q"])
    assert res.exit_code == 0, res.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
