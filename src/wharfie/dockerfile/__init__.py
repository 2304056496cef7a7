"""The Dockerfile frontend: parse, expand, plan stages and lint, as BuildKit reads Dockerfiles.

Public API for the build engine:

- :func:`parse_dockerfile` -> :class:`Dockerfile` (meta ARGs + typed stages);
- :func:`resolve` -> :class:`ResolvedBuild` (ARG scoping, build args, expanded words,
  unused-build-arg warnings) for a target;
- :func:`needed_stages` -> the stage indexes a target depends on;
- :func:`expand_instruction` and :func:`parse_triggers` for base-image ONBUILD triggers;
- :class:`ShellLex` for word expansion (``process_word``, ``process_words``).
"""

from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.lexer.shell import ShellLex
from wharfie.dockerfile.parser import Node, ParseResult, parse
from wharfie.dockerfile.stages import (
    Dockerfile,
    ResolvedBuild,
    ResolvedStage,
    Step,
    expand_instruction,
    needed_stages,
    parse_dockerfile,
    parse_triggers,
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
    "Step",
    "expand_instruction",
    "needed_stages",
    "parse",
    "parse_dockerfile",
    "parse_triggers",
    "resolve",
]
