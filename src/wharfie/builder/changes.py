"""``docker import --change``: Dockerfile instructions applied to an image config.

Each change is parsed, expanded and applied exactly as the same line in a Dockerfile
would be (``dockerfile`` parser, ``StageImage``), so the two can never disagree.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from wharfie.builder.imageconfig import StageImage
from wharfie.dockerfile import instructions as ins
from wharfie.dockerfile.errors import DockerfileError
from wharfie.dockerfile.parser import parse
from wharfie.dockerfile.stages import expand_instruction
from wharfie.errors import InvalidInput

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER",
                       "VOLUME", "WORKDIR")


def apply_changes(config: dict, changes: Sequence[str]) -> dict:
    """The image ``config`` (the ``config`` object of an image config) after ``changes``;
    a new dict. As Docker: a new ENTRYPOINT drops an inherited CMD."""
    image = StageImage({"config": copy.deepcopy(config), "history": []})
    for line in changes:
        if not line.strip():
            continue
        keyword, *rest = line.split(None, 1)
        if keyword.upper() not in CHANGE_INSTRUCTIONS:
            raise InvalidInput(f"{keyword} is not a valid change command")
        if not rest:
            raise InvalidInput(f"{keyword.upper()} requires at least one argument")
        try:
            nodes = parse(line).nodes
            if len(nodes) != 1:
                raise DockerfileError("expected one instruction")
            i = expand_instruction(ins.parse_instruction(nodes[0]), image.env_dict())
        except DockerfileError as e:
            raise InvalidInput(f"--change {line.strip()!r}: {e.problem}") from None
        if isinstance(i, ins.Workdir):
            image.set_workdir(i.path)
        else:
            image.apply(i)
    result = image.config
    result.pop("ArgsEscaped", None)  # BuildKit's, for Windows; docker import does not write it
    return result
