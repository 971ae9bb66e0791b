"""The one base error type: every domain error carries a stable ``code`` and a message a person can act on.

The CLI prints ``message`` without a traceback; the API returns ``{"code", "message"}`` as JSON.
"""

from __future__ import annotations


class TakebackError(Exception):
    """Base for expected, user-facing errors."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
