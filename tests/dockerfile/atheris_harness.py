"""Coverage-guided fuzzing of the parser, lexer and lint with atheris (libFuzzer).

Run directly for a long session: ``python tests/dockerfile/atheris_harness.py -max_total_time=600``.
test_df_fuzz.py runs it briefly. Any exception other than DockerfileError is a crash.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from wharfie.dockerfile import DockerfileError, parse_dockerfile, resolve
    from wharfie.dockerfile.lexer.shell import ShellLex
    from wharfie.dockerfile.lint import lint


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(len(data))
    try:
        resolve(parse_dockerfile(text), build_args={"A": "1"})
        lint(text)
    except DockerfileError:
        pass
    try:
        ShellLex().process_words(text, {"A": "1", "B": ""})
    except DockerfileError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
