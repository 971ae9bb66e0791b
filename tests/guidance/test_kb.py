"""The knowledge base: schema, citations, unconfirmed facts carried through, Traditional Chinese quality."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from takeback.guidance.kb import (
    DATA_FILES,
    Act,
    Confidence,
    GuidanceError,
    load_kb,
    parse_jurisdiction,
    schema_json,
)

LEGAL_FACTS = Path(__file__).resolve().parents[2].parent / "shared" / "docs" / "LEGAL-FACTS.md"


def raw(name: str) -> Any:
    return yaml.safe_load((files("takeback.guidance") / "data" / f"{name}.yaml").read_text(encoding="utf-8"))


def walk(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, obj)]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(walk(v, f"{path}.{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(walk(v, f"{path}[{i}]"))
    return out


def test_all_seven_jurisdictions_load_and_validate() -> None:
    kb = load_kb()
    assert sorted(kb.jurisdictions) == ["AU", "EU", "HK", "KR", "SG", "UK", "US"]
    for code, j in kb.jurisdictions.items():
        assert set(j.acts) == set(Act), code
        assert j.rules or code == "EU"
        assert j.channels


@pytest.mark.parametrize("name", DATA_FILES)
def test_data_files_satisfy_the_exported_json_schema(name: str) -> None:
    # the raw YAML (dates as strings, as a non-Python tool would see it) against the published schema
    doc = yaml.load(
        (files("takeback.guidance") / "data" / f"{name}.yaml").read_text(encoding="utf-8"),
        Loader=yaml.BaseLoader,
    )
    normalised = _types_back(doc)
    jsonschema.validate(normalised, schema_json())


def _types_back(obj: Any) -> Any:
    """BaseLoader reads every scalar as a string; restore booleans for the schema check."""
    if isinstance(obj, dict):
        return {k: _types_back(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_types_back(v) for v in obj]
    if obj in ("true", "false"):
        return obj == "true"
    return obj


def test_schema_rejects_a_rule_without_source_or_review_date() -> None:
    doc = raw("hk")
    del doc["rules"][0]["source"]
    with pytest.raises(GuidanceError, match="source"):
        parse_jurisdiction(doc)
    doc = raw("hk")
    del doc["rules"][0]["last_reviewed"]
    with pytest.raises(GuidanceError, match="last_reviewed"):
        parse_jurisdiction(doc)
    doc = raw("hk")
    doc["acts"]["create"]["rules"] = ["no-such-rule"]
    with pytest.raises(GuidanceError, match="unknown rule"):
        parse_jurisdiction(doc)
    doc = raw("hk")
    doc["rules"][0]["confidence"] = "probably"
    with pytest.raises(GuidanceError):
        parse_jurisdiction(doc)


def test_every_cited_thing_has_source_confidence_and_review_date() -> None:
    kb = load_kb()
    things: list[Any] = []
    for j in kb.jurisdictions.values():
        things.extend(j.rules)
        things.extend(j.channels)
        things.extend(j.clocks)
        things.extend(j.acts.values())
        for r in j.rules:
            things.extend(r.caveats)
        for ch in j.channels:
            things.extend(ch.caveats)
        for a in j.acts.values():
            things.extend(a.caveats)
    things.extend(kb.common.values())
    assert len(things) > 100
    for t in things:
        assert len(t.source) >= 3
        assert t.confidence in (Confidence.CONFIRMED, Confidence.UNCONFIRMED)
        assert t.last_reviewed.year >= 2026
    # offences carry statute and section, and a penalty where the facts give one
    for j in kb.jurisdictions.values():
        for r in j.rules:
            assert r.instrument.en and r.section, r.id


# Every ⚠ in LEGAL-FACTS.md and where the knowledge base carries it as unconfirmed.
UNCONFIRMED = {
    ("HK", "acts.distribute.caveat"): "altered images",
    ("HK", "acts.create.caveat"): "no consultation paper",
    ("HK", "rule.hk-sdo-harassment.caveat"): "section numbers",
    ("UK", "rule.uk-soa-s66b.caveat"): "2 years",
    ("UK", "acts.possess"): "possessing",
    ("UK", "clock.uk-removal-48h"): "not been confirmed as enacted",
    ("SG", "rule.sg-pc-s377bd-5.caveat"): "Commencement",
    ("KR", "clock.kr-deletion-24h"): "status is unknown",
    ("AU", "rule.au-cc-s474-17aa.caveat"): "7-year",
    ("AU", "acts.create"): "aggravat",
    ("EU", "acts.create"): "accessible to the public",
    ("common", "stopncii.caveat"): "No public submission interface",
}


def _unconfirmed_texts(code: str) -> dict[str, list[str]]:
    kb = load_kb()
    found: dict[str, list[str]] = {}
    if code == "common":
        for ch in kb.common.values():
            for c in ch.caveats:
                if c.confidence is Confidence.UNCONFIRMED:
                    found.setdefault(f"{ch.id}.caveat", []).append(c.text.en)
        return found
    j = kb.jurisdictions[code]
    for act, a in j.acts.items():
        if a.confidence is Confidence.UNCONFIRMED:
            found.setdefault(f"acts.{act.value}", []).append(a.note.en)
        for c in a.caveats:
            if c.confidence is Confidence.UNCONFIRMED:
                found.setdefault(f"acts.{act.value}.caveat", []).append(c.text.en)
    for r in j.rules:
        for c in r.caveats:
            if c.confidence is Confidence.UNCONFIRMED:
                found.setdefault(f"rule.{r.id}.caveat", []).append(c.text.en)
    for k in j.clocks:
        if k.confidence is Confidence.UNCONFIRMED:
            found.setdefault(f"clock.{k.id}", []).append(k.explain.en)
    return found


@pytest.mark.parametrize(
    ("where", "needle"), list(UNCONFIRMED.items()), ids=[f"{a}:{b}" for a, b in UNCONFIRMED]
)
def test_every_warning_sign_in_the_facts_is_carried_as_unconfirmed(
    where: tuple[str, str], needle: str
) -> None:
    code, place = where
    texts = _unconfirmed_texts(code).get(place, [])
    assert any(needle.lower() in t.lower() for t in texts), (where, texts)


def test_the_list_above_covers_every_warning_sign_in_the_facts_file() -> None:
    if not LEGAL_FACTS.exists():
        pytest.skip("LEGAL-FACTS.md not available")
    marks = LEGAL_FACTS.read_text(encoding="utf-8").count("⚠")
    # the header explains the sign once, and the closing list of clocks repeats the UK 48 h point
    assert len(UNCONFIRMED) >= marks - 2


# Characters that only exist in Simplified Chinese (their Traditional forms differ).
SIMPLIFIED_ONLY = set(
    "个们这说国图发为网视与罚监条关对证据项时间报应该处须经过护儿书门问题让话认识语请读写买卖东车长马鸟鱼龙见页风飞单双众从"
)


def _zh_texts() -> list[tuple[str, str]]:
    out = []
    for name in (*DATA_FILES, "common"):
        for path, value in walk(raw(name)):
            if path.endswith(".zh-Hant") and isinstance(value, str):
                out.append((f"{name}{path}", value))
    return out


def test_every_text_has_traditional_chinese_without_simplified_characters() -> None:
    texts = _zh_texts()
    assert len(texts) > 250
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for where, text in texts:
        # brand names (StopNCII.org) stay as they are; everything else is written in Chinese
        assert cjk.search(text) or where.endswith(".name.zh-Hant"), f"{where} has no Chinese: {text!r}"
        bad = sorted(set(text) & SIMPLIFIED_ONLY)
        assert not bad, f"{where} uses simplified characters {bad}: {text}"
    # English strings exist for every Chinese one
    for name in (*DATA_FILES, "common"):
        for path, value in walk(raw(name)):
            if isinstance(value, dict) and "zh-Hant" in value:
                assert value.get("en"), f"{name}{path} lacks English"


def test_hong_kong_bodies_use_their_official_chinese_names() -> None:
    hk = load_kb().jurisdictions["HK"]
    names = {ch.id: ch.name.zh_hant for ch in hk.channels}
    assert names["hk-pcpd"] == "個人資料私隱專員公署"
    assert names["hk-eoc"] == "平等機會委員會"
    assert names["hk-police"] == "香港警務處"
    all_zh = " ".join(t for _, t in _zh_texts())
    for mainland_term in ("隱私專員", "信息", "视频", "網路", "帖子"):
        assert mainland_term not in all_zh
    # folded YAML must not leave spaces between Chinese characters
    kb_texts = [a.note.zh_hant for j in load_kb().jurisdictions.values() for a in j.acts.values()]
    assert not any(re.search(r"[\u4e00-\u9fff，。] [\u4e00-\u9fff]", t) for t in kb_texts)


def test_unknown_jurisdiction_is_a_clear_error() -> None:
    with pytest.raises(GuidanceError) as err:
        load_kb().get("Atlantis")
    assert err.value.code == "unknown_jurisdiction"
    assert "HK" in err.value.message and "England & Wales" in err.value.message
    assert load_kb().get("hk").code == "HK"
    assert load_kb().get("gb").code == "UK"
    assert load_kb().get("usa").code == "US"


def test_an_adult_not_a_crime_finding_needs_a_finding_for_minors() -> None:
    # HK: making an intimate deepfake of an adult is no offence, but Cap. 579 covers a child's image
    doc = raw("hk")
    assert doc["acts"]["create"]["status"] == "no_offence"
    del doc["minor_acts"]["create"]
    with pytest.raises(GuidanceError, match="minor_acts must say what applies"):
        parse_jurisdiction(doc)
    doc = raw("us")
    doc["minor_acts"]["possess"]["status"] = "no_offence"
    with pytest.raises(GuidanceError, match="minor_acts"):
        parse_jurisdiction(doc)
    doc = raw("us")
    doc["minor_acts"]["possess"]["confidence"] = "confirmed"  # "not reviewed" cannot be confirmed
    with pytest.raises(GuidanceError, match="unconfirmed"):
        parse_jurisdiction(doc)
    hk = load_kb().jurisdictions["HK"]
    assert hk.minor_acts[Act.CREATE].rules == ["hk-cap579"]
    assert "computer-generated" in hk.minor_acts[Act.CREATE].source


def test_an_image_saving_step_cannot_be_meant_for_minors() -> None:
    doc = raw("hk")
    police = next(c for c in doc["channels"] if c["id"] == "hk-police")
    police["needs"][0]["age"] = "under_18"
    assert police["needs"][0]["saves_image"] is True
    with pytest.raises(GuidanceError, match="image-saving step"):
        parse_jurisdiction(doc)


def test_support_lines_come_from_the_facts_with_their_source() -> None:
    kb = load_kb()
    (rainlily, emergency) = kb.jurisdictions["HK"].support
    assert (rainlily.phone, rainlily.web) == ("2375 5322", "https://rainlily.org.hk/eng/helpinfo")
    assert "read 2026-12-01" in rainlily.source
    assert emergency.phone == "999"
    # the facts name no helpline for these: the generic line, which names no number, is used instead
    for code in ("SG", "AU", "US", "EU"):
        assert kb.jurisdictions[code].support == []
    assert not re.search(r"\d{3}", kb.support_generic.text.en)
