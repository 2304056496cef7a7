"""The Dockerfile frontend: parse, expand, plan stages and lint, as BuildKit reads Dockerfiles.

Public API for the build engine:

- :func:`parse_dockerfile` -> :class:`Dockerfile` (meta ARGs + typed stages);
- :func:`resolve` -> :class:`ResolvedBuild` (ARG scoping, build args, expanded words,
  unused-build-arg warnings) for a target;
- :func:`needed_stages` -> the stage indexes a target depends on;
- :class:`ShellLex` for word expansion (``process_word``, ``process_words``).
"""

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.lexer.shell import ShellLex
from wharfie.dockerfile.parser import Node, ParseResult, parse
from wharfie.dockerfile.stages import (
    Dockerfile,
    ResolvedBuild,
    ResolvedStage,
    needed_stages,
    parse_dockerfile,
    resolve,
)

__all__ = [
    "Dockerfile",
    "DockerfileError",
    "Node",
    "ParseResult",
    "ResolvedBuild",
    "ResolvedStage",
    "ShellLex",
    "needed_stages",
    "parse",
    "parse_dockerfile",
    "resolve",
]
