"""The glossary: each fixed term has one Traditional Chinese rendering on every surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from takeback import i18n

PACKAGE = Path(i18n.__file__).parents[1]
DOCS = Path(__file__).parents[2] / "docs" / "GLOSSARY.md"
GLOSSARY: dict[str, Any] = yaml.safe_load((Path(i18n.__file__).parent / "glossary.yaml").read_text("utf-8"))
TERMS: list[dict[str, Any]] = GLOSSARY["terms"]


def zh_texts() -> dict[str, str]:
    """Every Traditional Chinese text takeback can show: the catalogue, the guidance knowledge base
    (YAML content), and whatever Chinese is still in code (pathway's what-to-collect steps)."""
    out = {f"catalogue {m.id}": "".join(m.string) for m in i18n.catalog("zh-Hant") if m.id}
    for path in sorted((PACKAGE / "guidance" / "data").glob("*.yaml")):
        out[f"{path.name}"] = path.read_text("utf-8")
    for path in sorted(PACKAGE.rglob("*.py")):
        out[str(path.relative_to(PACKAGE))] = path.read_text("utf-8")
    for name in GLOSSARY.get("proper_names", []):
        out = {k: v.replace(name, "") for k, v in out.items()}
    return out


@pytest.mark.parametrize("term", TERMS, ids=[t["en"] for t in TERMS])
def test_one_rendering_per_term(term: dict[str, Any]) -> None:
    texts = zh_texts()
    used = [(where, bad) for where, text in texts.items() for bad in term["avoid"] if bad in text]
    assert not used, f"glossary says {term['en']} = {term['zh-Hant']}; found {used}"


def test_each_rendering_is_in_use() -> None:
    """A glossary of terms nobody uses drifts; each rendering appears somewhere (catalogue or content)."""
    everything = "\n".join(zh_texts().values())
    unused = []
    for term in TERMS:
        forms = [f.split(" (")[0].strip() for f in term["zh-Hant"].split(",")]
        if not all(f in everything for f in forms):
            unused.append(term["en"])
    assert not unused


def test_glossary_doc_lists_every_term() -> None:
    doc = DOCS.read_text("utf-8")
    missing = [t["en"] for t in TERMS if f"| {t['en']} | {t['zh-Hant']} |" not in doc]
    assert not missing, missing


def test_no_avoided_form_is_also_a_rendering() -> None:
    renderings = {f for t in TERMS for f in t["zh-Hant"].replace("(", ",").replace(")", ",").split(",")}
    clash = [(t["en"], a) for t in TERMS for a in t["avoid"] if any(a in r for r in renderings if r.strip())]
    assert not clash, clash
