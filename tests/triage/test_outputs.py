"""Exports (CSV, JSON Lines, coreutils hash lists, VICS JSON) and the report (HTML + PDF, en and
zh-Hant, thumbnails blurred and greyscale unless revealed)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from tests import pdftools
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes
from tests.triage.conftest import ScanFn, items, rows


@pytest.fixture
def case(tmp_path: Path, scan: ScanFn) -> Path:
    root = tmp_path / "seized"
    scenes.write_case(root, people=2, photos=1, size=(480, 360))
    (root / "readme.txt").write_text("x\n")
    folder = tmp_path / "case"
    scan(folder, [root])
    return folder


def test_items_csv_and_jsonl_hold_every_item(case: Path) -> None:
    got = items(case)
    with open(case / "items.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(got)
    by_path = {r["path"]: r for r in table}
    for path, rec in got.items():
        assert by_path[path]["sha256"] == (rec["sha256"] or "")
    ai = [r for r in table if r["provenance_tier"] == "2"]
    assert len(ai) == 6 and all("AUTOMATIC1111" in r["generator"] for r in ai)
    assert any("folder:" in r["groups"] for r in table)
    lines = [json.loads(x) for x in (case / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(got)
    rec = next(x for x in lines if x["provenance_tier"] == 2)
    assert rec["provenance"]["findings"][0]["kind"] == "generator.a1111" and len(rec["pdq_dihedral"]) == 8
    assert rec["record_sha256"] == got[rec["path"]]["record_sha256"]


def test_hash_lists_are_in_coreutils_format(case: Path) -> None:
    for name, tool in (("hashes.md5", "md5sum"), ("hashes.sha256", "sha256sum")):
        out = subprocess.run([tool, "-c", str(case / name)], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.count(": OK") == len(items(case))


def test_vics_json_carries_standard_fields_and_extensions(case: Path) -> None:
    doc = json.loads((case / "vics.json").read_text(encoding="utf-8"))
    assert doc["@odata.context"].endswith("$metadata#Media")
    media = doc["value"]
    got = {r["id"]: r for r in rows(case, "SELECT * FROM item")}
    assert len(media) == len(got)
    for m in media:
        rec = got[m["MediaID"]]
        assert m["MD5"] == rec["md5"].upper() and m["SHA1"] == rec["sha1"].upper() and m["Category"] == 0
        assert m["MediaFiles"][0]["FilePath"] == rec["path"]
        assert m["@takeback.SHA256"] == rec["sha256"] and m["@takeback.PDQ"] == rec["pdq"]
    ai = [m for m in media if m["@takeback.AIProvenance"]["indicated"]]
    assert len(ai) == 6 and all("takeback:ai-indicated" in m["Tags"] for m in ai)
    camera = [m for m in media if any(e["PropertyName"] == "Make" for e in m["Exifs"])]
    assert len(camera) == 2


def _thumbnails(html: str) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")).astype(int)
        for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    ]


def _sharpness(img: np.ndarray) -> float:
    grey = img.mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean())


def test_report_is_self_contained_and_blurred_by_default(case: Path, scan: ScanFn) -> None:
    html = (case / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert "person_00" in html and "person_01" in html and "Derivation set" in html
    thumbs = _thumbnails(html)
    assert thumbs
    for t in thumbs:
        assert (t[..., 0] == t[..., 1]).all() and (t[..., 1] == t[..., 2]).all()  # greyscale
    blurred = np.mean([_sharpness(t) for t in thumbs])
    scan(case, None, reveal=True)
    clear = _thumbnails((case / "report.html").read_text(encoding="utf-8"))
    assert any(not (t[..., 0] == t[..., 2]).all() for t in clear)  # colour
    assert np.mean([_sharpness(t) for t in clear]) > 2 * blurred
    assert "--reveal" in (case / "report.html").read_text(encoding="utf-8")


def test_pdf_report_in_english_and_traditional_chinese(case: Path, scan: ScanFn) -> None:
    text = "".join(p.extract_text() for p in PdfReader(case / "report.pdf").pages)
    for phrase in (
        "Forensic triage report",
        "Provenance tiers",
        "Chain of custody",
        "Methods",
        "Limitations",
    ):
        assert phrase in text
    english_html = (case / "report.html").read_text(encoding="utf-8")
    scan(case, None, lang="zh-Hant")
    zh = pdftools.text(case / "report.pdf")  # pypdf misreads the embedded Chinese font's CMap
    assert "鑑識分流報告" in zh and "保管鏈" in zh
    zh_html = (case / "report.html").read_text(encoding="utf-8")
    assert "鑑識分流報告" in zh_html
    # the groups' role column is in the reader's language too
    assert ">representative<" in english_html and ">member<" in english_html
    assert ">representative<" not in zh_html and ">member<" not in zh_html
    assert "代表影像" in zh_html and "成員" in zh_html


def test_error_table_lists_problems(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    full = encode(synthetic_photo(300, 200, seed=5), "JPEG")
    (src / "cut.jpg").write_bytes(full[: len(full) // 2])
    (src / "empty.png").write_bytes(b"")
    folder = tmp_path / "case"
    scan(folder, [src])
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "truncated_image" in html and "empty_file" in html and "cut.jpg" in html


def test_exports_are_recorded_with_their_hashes(case: Path) -> None:
    import hashlib

    conn = sqlite3.connect(case / "case.db")
    entries = [
        json.loads(d)
        for (d,) in conn.execute(
            "SELECT details FROM custody_entry WHERE action IN ('export.written', 'report.written')"
        )
    ]
    conn.close()
    names = {e["file"] for e in entries}
    assert names == {
        "report.html",
        "report.pdf",
        "items.csv",
        "items.jsonl",
        "hashes.md5",
        "hashes.sha256",
        "vics.json",
        "custody.jsonl",
    }
    for e in entries:
        assert hashlib.sha256((case / e["file"]).read_bytes()).hexdigest() == e["sha256"]
