"""Evidence errors. Each ``code`` is stable: the CLI, the API and ``verify`` reports use it."""

from __future__ import annotations

from takeback.errors import TakebackError


class EvidenceError(TakebackError):
    """Something about evidence capture, storage, custody or bundles that a person must act on."""

    code = "evidence_error"


class LockerError(EvidenceError):
    """The encrypted locker could not be opened or an item could not be decrypted."""

    code = "locker_error"


class CustodyError(EvidenceError):
    code = "custody_error"
