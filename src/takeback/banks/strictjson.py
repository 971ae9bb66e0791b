"""Strict JSON for bank files: a key given twice in one object is an error of that row, not a
silent last-one-wins, and NaN/Infinity are not JSON. Below both ``transfer`` (takeback's own JSONL)
and ``formats`` (the other tools' files), which read JSON this one way."""

from __future__ import annotations

import json
from typing import Any


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class StrictDecoder(json.JSONDecoder):
    """Notes the first key given twice in any object (the value still parses, so a reader can
    report the one element and go on to the next)."""

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=self._pairs, parse_constant=_no_constant)
        self.duplicate: str | None = None

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)  # in C; only an object whose keys collapsed is looked at again
        if len(out) != len(pairs) and self.duplicate is None:
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    self.duplicate = k
                    break
                seen.add(k)
        return out

    def take_duplicate(self) -> str | None:
        key, self.duplicate = self.duplicate, None
        return key


def json_problem(exc: Exception) -> str:
    if isinstance(exc, DuplicateKeyError):
        return f"the key {exc.key!r} appears twice in one object."
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})."
    return f"not valid JSON ({exc})."


def loads(text: str) -> Any:
    """Strict :func:`json.loads` (raises ``ValueError`` subclasses; see :func:`json_problem`)."""
    decoder = StrictDecoder()
    value = decoder.decode(text)
    key = decoder.take_duplicate()
    if key is not None:
        raise DuplicateKeyError(key)
    return value
