"""Errors a registry sends to clients: the distribution spec's codes with their statuses."""

from __future__ import annotations

import json
from typing import Any

STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
}


class RegistryError(Exception):
    """One spec error; ``status`` overrides the code's usual status (413, 416...)."""

    def __init__(self, code: str, message: str, detail: Any = None, *,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status or STATUS.get(code, 400)
        self.headers = headers or {}

    def body(self) -> bytes:
        err = {"code": self.code, "message": self.message, "detail": self.detail}
        return json.dumps({"errors": [err]}).encode()
