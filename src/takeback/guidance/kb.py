"""The jurisdiction knowledge base: typed schema, loader, and look-ups.

The facts live in YAML files, one per jurisdiction (``data/*.yaml``) plus ``data/common.yaml``
for international services. The Pydantic models below *are* the schema (``extra="forbid"``,
every rule with ``source``, ``confidence`` and ``last_reviewed``); ``schema_json()`` exports it as
JSON Schema for tests and other tools. Why data files: lawyers and NGO staff can review and update
a YAML file and its citations without reading Python, and a change is one reviewable diff.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from takeback.errors import TakebackError

LANGS = ("en", "zh-Hant")
Lang = Literal["en", "zh-Hant"]


class GuidanceError(TakebackError):
    code = "guidance_error"


class Act(StrEnum):
    """The four acts the knowledge base classifies (LEGAL-FACTS: C, P, D, T)."""

    CREATE = "create"
    POSSESS = "possess"
    DISTRIBUTE = "distribute"
    THREATEN = "threaten"


class Confidence(StrEnum):
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"  # a ⚠ in the sources: not confirmed from a primary text


class ActStatus(StrEnum):
    OFFENCE = "offence"
    NO_OFFENCE = "no_offence"
    LIMITED = "limited"  # only in some circumstances (e.g. as an aggravating factor)
    CIVIL_ONLY = "civil_only"  # prohibited with civil penalties, not a crime
    NATIONAL = "national"  # depends on national law (EU directives)


class ChannelKind(StrEnum):
    POLICE = "police"
    PRIVACY_REGULATOR = "privacy_regulator"
    EQUALITY_BODY = "equality_body"
    ONLINE_SAFETY_REGULATOR = "online_safety_regulator"
    NGO = "ngo"
    HELPLINE = "helpline"
    PLATFORM = "platform"
    HASHING_SERVICE = "hashing_service"
    CIVIL_CLAIM = "civil_claim"
    INSTITUTION = "institution"
    CHILD_PROTECTION = "child_protection"


class ClockStart(StrEnum):
    INCIDENT = "incident"  # the date of the act
    TAKEDOWN_SENT = "takedown_sent"  # a (valid) removal request reached the platform
    REGULATOR_NOTICE = "regulator_notice"  # a regulator issued a removal notice


_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Strict):
    """A string in every supported language; Traditional Chinese uses Hong Kong usage."""

    en: str = Field(min_length=1)
    zh_hant: str = Field(alias="zh-Hant", min_length=1)

    @field_validator("zh_hant")
    @classmethod
    def _no_folding_spaces(cls, v: str) -> str:
        """YAML folds line breaks into spaces; Chinese text has none between characters."""
        return _CJK_GAP.sub("", v)

    def get(self, lang: str) -> str:
        return self.zh_hant if lang == "zh-Hant" else self.en


class Cited(_Strict):
    """Everything that states a fact carries where it came from and when it was last checked."""

    source: str = Field(min_length=3)
    source_url: str | None = Field(default=None, pattern=r"^https://")
    confidence: Confidence
    last_reviewed: date


class Caveat(Cited):
    text: Text


class Rule(Cited):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    kind: Literal["offence", "civil", "regulatory", "complaint"]
    instrument: Text
    section: str
    #: how the section is cited in Chinese where it is not a plain "s.N" (e.g. "性騷擾條文")
    section_zh: str | None = None
    title: Text
    acts: list[Act]
    summary: Text
    max_penalty: Text | None = None
    in_force: date | None = None
    caveats: list[Caveat] = Field(default_factory=list)


class ActFinding(Cited):
    status: ActStatus
    rules: list[str] = Field(default_factory=list)
    note: Text
    caveats: list[Caveat] = Field(default_factory=list)


class When(_Strict):
    """When a channel fits. Every given condition must hold; an empty ``When`` always fits."""

    acts_any: list[Act] | None = None
    settings: list[Literal["university", "school", "work", "online", "other"]] | None = None
    age: Literal["any", "adult", "under_18"] = "any"
    needs_identifiable: bool = False


class Contact(_Strict):
    web: str | None = Field(default=None, pattern=r"^https://")
    phone: str | None = None
    note: Text | None = None


class Channel(Cited):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    kind: ChannelKind
    name: Text
    when: When = Field(default_factory=When)
    why: Text
    needs: list[Text] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    clocks: list[str] = Field(default_factory=list)
    contact: Contact | None = None
    caveats: list[Caveat] = Field(default_factory=list)
    child_route: bool = False  # offered first when the person is or was under 18


class ClockRule(Cited):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    label: Text
    duration: str = Field(pattern=r"^P(\d+M|T\d+H)$")
    starts: ClockStart
    channel: str | None = None
    hard: bool  # false: the body *may* decline after it, not *must*
    in_force_from: date | None = None
    explain: Text


class Jurisdiction(_Strict):
    code: str = Field(pattern=r"^[A-Z]{2}(-[A-Z]{2,3})?$")
    aliases: list[str] = Field(default_factory=list)
    name: Text
    timezone: str
    summary: Text
    acts: dict[Act, ActFinding]
    rules: list[Rule]
    channels: list[Channel]
    clocks: list[ClockRule] = Field(default_factory=list)
    uses_common: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Jurisdiction:
        if set(self.acts) != set(Act):
            raise ValueError(f"{self.code}: acts must classify exactly create, possess, distribute, threaten")
        rule_ids = {r.id for r in self.rules}
        clock_ids = {c.id for c in self.clocks}
        for act, finding in self.acts.items():
            for rid in finding.rules:
                if rid not in rule_ids:
                    raise ValueError(f"{self.code}: acts.{act.value} cites unknown rule {rid}")
        for ch in self.channels:
            for rid in ch.rules:
                if rid not in rule_ids:
                    raise ValueError(f"{self.code}: channel {ch.id} cites unknown rule {rid}")
            for cid in ch.clocks:
                if cid not in clock_ids:
                    raise ValueError(f"{self.code}: channel {ch.id} names unknown clock {cid}")
        return self


class Common(_Strict):
    channels: list[Channel]


class KnowledgeBase(_Strict):
    jurisdictions: dict[str, Jurisdiction]
    common: dict[str, Channel]

    def get(self, code: str) -> Jurisdiction:
        wanted = code.strip().upper().replace("_", "-")
        for j in self.jurisdictions.values():
            if wanted == j.code or wanted in {a.upper() for a in j.aliases}:
                return j
        known = ", ".join(sorted(self.jurisdictions))
        raise GuidanceError(
            f"Unknown jurisdiction {code!r}. Known: {known}. "
            "(UK means England & Wales; US means federal law.)",
            code="unknown_jurisdiction",
        )

    def channels_for(self, j: Jurisdiction) -> list[Channel]:
        return [*j.channels, *(self.common[c] for c in j.uses_common)]

    def channel(self, channel_id: str) -> Channel | None:
        for j in self.jurisdictions.values():
            for ch in j.channels:
                if ch.id == channel_id:
                    return ch
        return self.common.get(channel_id)

    def clock(self, clock_id: str) -> tuple[Jurisdiction, ClockRule] | None:
        for j in self.jurisdictions.values():
            for c in j.clocks:
                if c.id == clock_id:
                    return j, c
        return None


DATA_FILES = ("hk", "uk", "sg", "kr", "au", "us", "eu")


def _read(name: str) -> Any:
    text = (files("takeback.guidance") / "data" / f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def parse_jurisdiction(doc: Any, *, name: str = "<data>") -> Jurisdiction:
    try:
        return Jurisdiction.model_validate(doc)
    except ValidationError as exc:
        raise GuidanceError(f"knowledge base file {name} is invalid: {exc}", code="kb_invalid") from None


@lru_cache(maxsize=1)
def load_kb() -> KnowledgeBase:
    """Load and validate every data file (cached: the files ship with the package)."""
    try:
        common = Common.model_validate(_read("common"))
    except ValidationError as exc:
        raise GuidanceError(f"knowledge base file common.yaml is invalid: {exc}", code="kb_invalid") from None
    jurisdictions = {}
    for name in DATA_FILES:
        j = parse_jurisdiction(_read(name), name=f"{name}.yaml")
        jurisdictions[j.code] = j
    kb = KnowledgeBase(jurisdictions=jurisdictions, common={c.id: c for c in common.channels})
    for j in jurisdictions.values():
        for cid in j.uses_common:
            if cid not in kb.common:
                raise GuidanceError(f"{j.code} uses unknown common channel {cid}", code="kb_invalid")
    return kb


def schema_json() -> dict[str, Any]:
    """The knowledge-base file schema as JSON Schema (what each ``data/*.yaml`` must satisfy)."""
    return Jurisdiction.model_json_schema(by_alias=True)
