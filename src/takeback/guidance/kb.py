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
    #: under-18s only: the reviewed facts do not cover this jurisdiction's child-abuse-image law, so the
    #: guide says it may be a crime (flagged unconfirmed) instead of repeating the adult "not a crime"
    UNREVIEWED = "unreviewed"


#: statuses that tell a person "this is not (simply) a crime"; never shown for an under-18's images
NOT_A_CRIME = frozenset({ActStatus.NO_OFFENCE, ActStatus.LIMITED, ActStatus.CIVIL_ONLY})


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


SettingName = Literal["university", "school", "work", "online", "other"]
Age = Literal["any", "adult", "under_18"]
#: facts a "what to collect" step presupposes (there is no URL to capture when nothing was posted)
Presupposes = Literal["shared", "threatened"]


class Need(Text):
    """One thing a route asks for, tagged with what it presupposes, so only steps that fit are shown."""

    #: a screenshot or copy of the image itself: never asked of anyone whose images show them under 18
    saves_image: bool = False
    #: shown only if one of these happened (None: always)
    only_if: list[Presupposes] | None = None
    age: Age = "any"

    @model_validator(mode="after")
    def _image_steps_are_for_adults(self) -> Need:
        if self.saves_image and self.age == "under_18":
            raise ValueError(f"an image-saving step cannot be meant for under-18s: {self.en!r}")
        return self


class Cited(_Strict):
    """Everything that states a fact carries where it came from and when it was last checked."""

    source: str = Field(min_length=3)
    source_url: str | None = Field(default=None, pattern=r"^https://")
    confidence: Confidence
    last_reviewed: date


class Caveat(Cited):
    text: Text
    #: shown only in these settings (e.g. a point about workplaces); None: always
    settings: list[SettingName] | None = None


class Support(Cited):
    """Where to get help now: shown first, before any law (only services the reviewed facts name)."""

    name: Text
    phone: str | None = None
    web: str | None = Field(default=None, pattern=r"^https://")
    note: Text | None = None
    age: Age = "any"


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

    @model_validator(mode="after")
    def _unreviewed_is_unconfirmed(self) -> ActFinding:
        if self.status is ActStatus.UNREVIEWED and self.confidence is not Confidence.UNCONFIRMED:
            raise ValueError("an unreviewed finding must be confidence: unconfirmed")
        return self


class When(_Strict):
    """When a channel fits. Every given condition must hold; an empty ``When`` always fits."""

    acts_any: list[Act] | None = None
    settings: list[SettingName] | None = None
    age: Age = "any"
    needs_identifiable: bool = False


class Contact(_Strict):
    web: str | None = Field(default=None, pattern=r"^https://")
    phone: str | None = None
    note: Text | None = None


class Channel(Cited):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    #: other names people type for it (`case refer --to pcpd`); the id without its jurisdiction prefix,
    #: the names and a bracketed abbreviation in the name are accepted too
    aliases: list[str] = Field(default_factory=list)
    kind: ChannelKind
    name: Text
    when: When = Field(default_factory=When)
    why: Text
    #: replaces ``why`` when the person is or was under 18 (e.g. the child-abuse-image law applies)
    why_minor: Text | None = None
    needs: list[Need] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    clocks: list[str] = Field(default_factory=list)
    contact: Contact | None = None
    caveats: list[Caveat] = Field(default_factory=list)
    child_route: bool = False  # offered first when the person is or was under 18


class ClockRule(Cited):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    #: names people type for the law behind it (`take-it-down`, `TAKE IT DOWN`)
    aliases: list[str] = Field(default_factory=list)
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
    #: replaces ``summary`` when the person is or was under 18
    summary_minor: Text | None = None
    acts: dict[Act, ActFinding]
    #: findings that replace ``acts`` when the person is or was under 18. Required for every act the
    #: adult finding calls not (simply) a crime: child-abuse-image law changes the answer, or the
    #: reviewed facts do not say (status ``unreviewed``), and the guide must not say "not a crime".
    minor_acts: dict[Act, ActFinding] = Field(default_factory=dict)
    rules: list[Rule]
    channels: list[Channel]
    clocks: list[ClockRule] = Field(default_factory=list)
    support: list[Support] = Field(default_factory=list)
    uses_common: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Jurisdiction:
        if set(self.acts) != set(Act):
            raise ValueError(f"{self.code}: acts must classify exactly create, possess, distribute, threaten")
        rule_ids = {r.id for r in self.rules}
        clock_ids = {c.id for c in self.clocks}
        for act, finding in [*self.acts.items(), *self.minor_acts.items()]:
            for rid in finding.rules:
                if rid not in rule_ids:
                    raise ValueError(f"{self.code}: acts.{act.value} cites unknown rule {rid}")
        for act, finding in self.acts.items():
            if finding.status is ActStatus.UNREVIEWED:
                raise ValueError(f"{self.code}: acts.{act.value}: 'unreviewed' is for minor_acts only")
            minor = self.minor_acts.get(act, finding)
            if minor.status in NOT_A_CRIME:
                raise ValueError(
                    f"{self.code}: acts.{act.value} is {finding.status.value} for adults; minor_acts must "
                    "say what applies to images of someone under 18 (an offence, or unreviewed)"
                )
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
    #: the support line shown where the reviewed facts name no helpline for the jurisdiction
    support_generic: Caveat


def name_key(text: str) -> str:
    """Typed names compare without case, spaces or punctuation (`TAKE IT DOWN` = `take-it-down`)."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


_ABBREVIATION = re.compile(r"\(([^)]+)\)")


class KnowledgeBase(_Strict):
    jurisdictions: dict[str, Jurisdiction]
    common: dict[str, Channel]
    support_generic: Caveat

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

    def find_clock(self, name: str) -> tuple[Jurisdiction, ClockRule] | None:
        """A clock by its id or a name people type for its law (`take-it-down`, `TAKE IT DOWN`)."""
        wanted = name_key(name)
        for j in self.jurisdictions.values():
            for c in j.clocks:
                if wanted in {name_key(c.id), *(name_key(a) for a in c.aliases)}:
                    return j, c
        return None

    def resolve_channel(self, jurisdiction: str, name: str) -> Channel | None:
        """The channel someone means by ``name`` in a case of ``jurisdiction``: its id (``hk-pcpd``), the id
        without the jurisdiction prefix (``pcpd``), an alias, its name or the abbreviation in its name.
        The case's own channels are searched first, then every channel by exact id."""
        j = self.get(jurisdiction)
        wanted = name_key(name)
        if not wanted:
            return None
        prefix = j.code.lower().split("-")[0] + "-"
        for ch in self.channels_for(j):
            keys = {ch.id, *ch.aliases, ch.name.en, ch.name.zh_hant}
            if ch.id.startswith(prefix):
                keys.add(ch.id.removeprefix(prefix))
            keys.update(_ABBREVIATION.findall(ch.name.en))
            if wanted in {name_key(k) for k in keys}:
                return ch
        return self.channel(name.strip().lower())


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
    kb = KnowledgeBase(
        jurisdictions=jurisdictions,
        common={c.id: c for c in common.channels},
        support_generic=common.support_generic,
    )
    for j in jurisdictions.values():
        for cid in j.uses_common:
            if cid not in kb.common:
                raise GuidanceError(f"{j.code} uses unknown common channel {cid}", code="kb_invalid")
    return kb


def schema_json() -> dict[str, Any]:
    """The knowledge-base file schema as JSON Schema (what each ``data/*.yaml`` must satisfy)."""
    return Jurisdiction.model_json_schema(by_alias=True)
