"""One error hierarchy: every failure a user can cause is a WharfieError.

The CLI prints ``wharfie: error: <message>`` and exits with ``exit_code``;
anything else escaping is a bug and shows a traceback only with ``--debug``.
"""


class WharfieError(Exception):
    """An error with a message meant for the user.

    An error a registry answered also carries its HTTP ``status`` and the
    distribution-spec error ``codes`` of the body (empty for other errors)::

        try:
            wharfie.pull("127.0.0.1:5000/app:1")
        except wharfie.NotFound as e:
            print(e.status, e.codes)  # 404 ('MANIFEST_UNKNOWN',)
    """

    exit_code = 1
    status: int | None = None
    codes: tuple[str, ...] = ()

    def __init__(self, message: str, *, exit_code: int | None = None,
                 status: int | None = None, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
        self.status, self.codes = status, tuple(codes)

    def __str__(self) -> str:
        return self.message


class InvalidReference(WharfieError):
    """An image name, tag or digest that does not parse."""


class InvalidDigest(WharfieError):
    """A digest string that is malformed or uses an unknown algorithm."""


class DigestMismatch(WharfieError):
    """Content whose hash or size differs from what was announced."""


class NotFound(WharfieError):
    """An image, blob, manifest or file that does not exist."""


class Conflict(WharfieError):
    """An operation refused because of the current state (e.g. image in use)."""


class InvalidInput(WharfieError):
    """Malformed input: a corrupt tar, bad JSON, an unsafe path."""


class RegistryError(WharfieError):
    """A registry answered with an error (see ``status`` and ``codes``), or could not be
    reached (``status`` is None)."""


class AuthError(WharfieError):
    """The registry refused our credentials, or we had none to give."""
