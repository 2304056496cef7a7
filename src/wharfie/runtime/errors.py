"""Runtime failures, with Docker's exit codes (125 ours, 126 cannot invoke, 127 not found)."""

from wharfie.errors import WharfieError


class RuntimeUnavailable(WharfieError):
    """No working OCI runtime on this host (runc missing, crun broken, ...)."""

    exit_code = 125


class ContainerError(WharfieError):
    """The runtime could not create or start the container."""

    exit_code = 125


class CommandNotFound(ContainerError):
    """The container's command does not exist in its root filesystem."""

    exit_code = 127


class CommandNotExecutable(ContainerError):
    """The container's command exists but cannot be executed."""

    exit_code = 126
