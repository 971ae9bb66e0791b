"""Provenance findings in evidence tiers: C2PA, IPTC/XMP, generator metadata, invisible watermarks.

``inspect(path_or_bytes, options=...) -> Findings`` is the one entry point; see ``models`` for what a
finding holds and ``fragility`` for how long each kind of trace survives.
"""

from takeback.analysis.provenance.models import (
    NO_PROVENANCE,
    Evidence,
    Finding,
    FindingError,
    Findings,
    Indicates,
    Tier,
)
from takeback.analysis.provenance.service import InspectOptions, inspect, inspect_bytes

__all__ = [
    "NO_PROVENANCE",
    "Evidence",
    "Finding",
    "FindingError",
    "Findings",
    "Indicates",
    "InspectOptions",
    "Tier",
    "inspect",
    "inspect_bytes",
]
