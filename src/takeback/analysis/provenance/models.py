"""What ``inspect`` returns: findings in evidence tiers, each tied to the bytes it came from.

Why tiers and not a score: a single "fake %" from a detector flips on one upscale or re-save, so it
cannot be stood behind in court. A finding instead names the exact field, chunk or offset it was
read from, how sure the reading is, and how easily the trace is destroyed or forged, so an expert
can explain each one. Absence of findings means "no provenance found", never "authentic".
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Tier(IntEnum):
    """Evidence tiers, strongest first."""

    CRYPTOGRAPHIC = 1  # C2PA: a signature over the content
    DETERMINISTIC = 2  # metadata and watermarks a specific tool writes
    CONSISTENCY = 3  # facts that sit badly with a camera origin: weak signals
    ML_RANKING = 4  # a classifier's score: review ordering only, never a verdict


class Indicates(StrEnum):
    """What a finding points to, if it is genuine."""

    AI_GENERATED = "ai_generated"  # made by a generative model
    AI_EDITED = "ai_edited"  # a composite or edit with generative parts
    CAPTURE = "capture"  # a claim of camera capture (no more than a claim unless signed)
    SOFTWARE = "software"  # produced or re-saved by ordinary software
    UNKNOWN = "unknown"  # a trace whose meaning is unclear (e.g. unparseable metadata)


class Evidence(BaseModel):
    """Where a finding came from: enough to find the same bytes again in the file."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="container part, e.g. 'png:tEXt', 'jpeg:APP1/exif', 'c2pa:manifest'")
    field: str | None = Field(default=None, description="key, tag or property name")
    offset: int | None = Field(default=None, description="byte offset of the chunk or segment in the file")
    length: int | None = Field(default=None, description="bytes in the chunk or segment")
    value: Any = Field(default=None, description="the decoded payload, verbatim where it is text")


class FindingError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Finding(BaseModel):
    """One trace, with what it indicates, how sure and how robust it is."""

    tier: Tier
    kind: str = Field(description="stable code, e.g. 'c2pa.manifest', 'generator.a1111', 'watermark.dwtdct'")
    summary: str = Field(description="one line for a person; never contains prompt text")
    indicates: Indicates = Indicates.UNKNOWN
    generator: str | None = Field(default=None, description="the tool or model family named by the trace")
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="how sure the reading itself is (parse or statistics), not whether it was forged",
    )
    forgeable: bool = Field(description="whether anyone can write this trace without a secret key")
    fragility: str = Field(description="what keeps and what destroys this trace")
    sensitive: bool = Field(default=False, description="evidence holds prompt text: may name the victim")
    details: dict[str, Any] = Field(default_factory=dict, description="structured reading of the evidence")
    evidence: list[Evidence] = Field(default_factory=list)
    error: FindingError | None = None


NO_PROVENANCE = "no provenance found"


class Findings(BaseModel):
    """Every finding for one file, plus a headline that never says "authentic"."""

    name: str
    size: int | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    checks: list[str] = Field(default_factory=list, description="which checks ran (absence means only that)")
    findings: list[Finding] = Field(default_factory=list)
    error: FindingError | None = Field(default=None, description="the file could not be inspected at all")

    @property
    def strongest_tier(self) -> Tier | None:
        tiers = [f.tier for f in self.findings if f.error is None and _points_to_ai(f)]
        return min(tiers) if tiers else None

    @property
    def sensitive(self) -> bool:
        return any(f.sensitive for f in self.findings)

    def headline(self) -> str:
        """A one-line reading: the strongest AI indication, or "no provenance found"."""
        if self.error is not None:
            return f"not inspected: {self.error.message}"
        ai = [f for f in self.findings if f.error is None and _points_to_ai(f)]
        if ai:
            best = min(ai, key=lambda f: (f.tier, -f.confidence))
            if best.tier >= Tier.CONSISTENCY:
                return f"{NO_PROVENANCE}; weak signal only: {best.summary}"
            return f"AI involvement indicated, tier {int(best.tier)}: {best.summary}"
        signed = [f for f in self.findings if f.kind == "c2pa.manifest" and f.error is None]
        if signed:
            return f"{signed[0].summary}; no AI indication found"
        return NO_PROVENANCE

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (what ``--format jsonl`` prints and ``hash --inspect`` embeds)."""
        data = self.model_dump(mode="json")
        data["headline"] = self.headline()
        tier = self.strongest_tier
        data["strongest_tier"] = None if tier is None else int(tier)
        data["sensitive"] = self.sensitive
        return data


def _points_to_ai(f: Finding) -> bool:
    return f.indicates in (Indicates.AI_GENERATED, Indicates.AI_EDITED)
