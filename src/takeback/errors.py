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


#: Lowercase words and abbreviations read with a leading vowel sound although spelt otherwise
#: ("an MD5", "an HTML page") or the other way round ("a URL", "a user"): the exceptions ``article``
#: knows; anything else goes by its first letter.
_AN = ("md5", "mp4", "mkv", "html", "http", "hma", "ncii", "sql", "svg", "rgb", "hour", "honest", "xmp")
_A = ("url", "user", "uni", "use", "usu", "utf", "one", "eu")


def article(word: str) -> str:
    """``a`` or ``an`` for ``word`` in a message built from a variable ("not an image", "a video")."""
    w = word.strip().lower()
    if w.startswith(_AN):
        return "an"
    if w.startswith(_A):
        return "a"
    return "an" if w[:1] in ("a", "e", "i", "o", "u") else "a"
