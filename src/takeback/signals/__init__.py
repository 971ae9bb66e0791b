"""Signal types (fingerprints) and the registry that names them.

``REGISTRY`` maps a signal type's name to its one instance; look types up with :func:`get_signal_type`
so an unknown name gives a clear error rather than a ``KeyError``.
"""

from takeback.signals.base import (
    ContentType,
    IndexKind,
    SignalError,
    SignalType,
    SignalValue,
)
from takeback.signals.crypto import Md5Signal, Sha256Signal
from takeback.signals.pdq import PdqResult, PdqSignal, pdq_from_luma
from takeback.signals.vpdq import VpdqSignal

REGISTRY: dict[str, SignalType] = {
    t.name: t for t in (PdqSignal(), Md5Signal(), Sha256Signal(), VpdqSignal())
}


def get_signal_type(name: str) -> SignalType:
    """The registered signal type called ``name`` (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    try:
        return REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise SignalError(f"Unknown signal type {name!r}; known types: {known}.") from None


__all__ = [
    "REGISTRY",
    "ContentType",
    "IndexKind",
    "Md5Signal",
    "PdqResult",
    "PdqSignal",
    "Sha256Signal",
    "SignalError",
    "SignalType",
    "SignalValue",
    "VpdqSignal",
    "get_signal_type",
    "pdq_from_luma",
]
