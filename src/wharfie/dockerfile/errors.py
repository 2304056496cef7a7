"""The one error type the Dockerfile frontend raises."""

from __future__ import annotations

from wharfie.errors import WharfieError


class DockerfileError(WharfieError):
    """A Dockerfile that cannot be parsed, expanded or planned.

    ``line`` (1-based) and ``filename`` locate the problem when known; the
    message already names them so the CLI can print it as is.
    """

    def __init__(self, problem: str, *, filename: str | None = None,
                 line: int | None = None, end_line: int | None = None) -> None:
        self.problem = problem
        self.filename = filename
        self.line = line
        self.end_line = end_line
        where = ""
        if filename and line:
            where = f"{filename}:{line}: "
        elif filename:
            where = f"{filename}: "
        elif line:
            where = f"line {line}: "
        super().__init__(where + problem)

    def located(self, filename: str | None, line: int | None = None,
                end_line: int | None = None) -> DockerfileError:
        """A copy of this error with its location filled in where missing."""
        return DockerfileError(self.problem, filename=self.filename or filename,
                               line=self.line or line, end_line=self.end_line or end_line)
