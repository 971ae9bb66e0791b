"""Signal types (fingerprints) and the registry that names them.

``REGISTRY`` maps a signal type's name to its one instance, in the order records and exports list
them; look types up with :func:`get_signal_type` so an unknown name gives a clear error rather than
a ``KeyError``. Adding a type is one module with its ``SignalType`` and one :func:`register` call:
hashing, banks, matching, the HTTP routes and exports read the registry when they run.

A *personal* type (``SignalType.personal``: the face embedding) registers into :data:`PERSONAL`
instead: its values identify a person, so they must never become bank entries, export columns, hash
records or HMA signal types, which is what being in ``REGISTRY`` means. Only the domain that holds
consent (``takeback.faces``) reads them, through :func:`get_personal_type`.
"""

from collections.abc import Iterator

from takeback.signals.base import (
    ContentType,
    Hasher,
    IndexKind,
    SignalError,
    SignalType,
    SignalValue,
)
from takeback.signals.crypto import Md5Signal, Sha256Signal
from takeback.signals.face import FaceSignal
from takeback.signals.pdq import PdqResult, PdqSignal, pdq_from_luma
from takeback.signals.vpdq import VpdqSignal

REGISTRY: dict[str, SignalType] = {
    t.name: t for t in (PdqSignal(), Md5Signal(), Sha256Signal(), VpdqSignal())
}
#: personal types (faces): never banked, exported or on the HMA routes
PERSONAL: dict[str, SignalType] = {}


def get_signal_type(name: str) -> SignalType:
    """The registered signal type called ``name`` (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    try:
        return REGISTRY[key]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise SignalError(f"Unknown signal type {name!r}; known types: {known}.") from None


def get_personal_type(name: str) -> SignalType:
    """The registered personal type called ``name`` (``face``)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    try:
        return PERSONAL[key]
    except KeyError:
        raise SignalError(f"Unknown personal signal type {name!r}.") from None


def register(signal_type: SignalType) -> SignalType:
    """Add a signal type to the registry (after the built-in ones; a personal type to
    :data:`PERSONAL`); its name must be new in both."""
    if signal_type.name in REGISTRY or signal_type.name in PERSONAL:
        raise ValueError(f"signal type {signal_type.name!r} is already registered")
    (PERSONAL if signal_type.personal else REGISTRY)[signal_type.name] = signal_type
    return signal_type


def unregister(name: str) -> None:
    """Take a registered type out again (tests that register a type of their own)."""
    REGISTRY.pop(name, None)
    PERSONAL.pop(name, None)


register(FaceSignal())


def by_wire_name(name: str) -> SignalType | None:
    """The type HMA calls ``name`` (``video_md5`` is md5; every other type's name is its own)."""
    for t in REGISTRY.values():
        if t.wire_name == name:
            return t
    return None


def single_value_types() -> Iterator[SignalType]:
    """Types matched one value at a time by the matcher's indexes (every type but bags of frames)."""
    return (t for t in REGISTRY.values() if not t.bag_of_frames)


__all__ = [
    "PERSONAL",
    "REGISTRY",
    "ContentType",
    "FaceSignal",
    "Hasher",
    "IndexKind",
    "Md5Signal",
    "PdqResult",
    "PdqSignal",
    "Sha256Signal",
    "SignalError",
    "SignalType",
    "SignalValue",
    "VpdqSignal",
    "by_wire_name",
    "get_personal_type",
    "get_signal_type",
    "pdq_from_luma",
    "register",
    "single_value_types",
    "unregister",
]
