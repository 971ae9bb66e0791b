"""Known-file exclusion: md5sum/sha256sum lists and NSRL RDS v3 databases."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from takeback.triage import exclusion
from takeback.triage.errors import TriageError
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, custody_actions, items


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.jpg").write_bytes(encode(synthetic_photo(160, 120, seed=i), "JPEG"))
    (folder / "os-file.dll").write_bytes(b"MZ" + bytes(500))
    return folder


def _nsrl(path: Path, sha256s: list[str], *, index: bool = True) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, "
        "crc32 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, "
        "package_id INTEGER NOT NULL)"
    )
    conn.execute("CREATE TABLE VERSION (version VARCHAR, build_set VARCHAR, build_date TIMESTAMP)")
    conn.execute("INSERT INTO VERSION VALUES ('2025.03.1', 'modern minimal', '2025-03-01')")
    for n, h in enumerate(sha256s):
        conn.execute(
            "INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)",
            (h.upper(), "0" * 40, "0" * 32, "0", f"f{n}", 1, 1),
        )
    if index:
        conn.execute("CREATE INDEX FILE_sha256 ON FILE (sha256)")
    conn.commit()
    conn.close()
    return path


def test_md5sum_and_sha256sum_lists_exclude_known_files(tmp_path: Path, src: Path, scan: ScanFn) -> None:
    md5_list = tmp_path / "known.md5"
    md5_list.write_text(f"{hashlib.md5((src / '0.jpg').read_bytes()).hexdigest()}  0.jpg\n# comment\n\n")
    sha_list = tmp_path / "known.sha256"
    sha_list.write_text(f"{hashlib.sha256((src / 'os-file.dll').read_bytes()).hexdigest()} *os-file.dll\n")
    case = tmp_path / "case"
    specs = [exclusion.describe(str(p)).to_json() for p in (md5_list, sha_list)]
    summary = scan(case, [src], exclusion_lists=tuple(specs))
    got = items(case)
    known = got[str(src / "0.jpg")]
    assert known["state"] == "known" and known["known"] == '["known.md5"]'
    assert known["provenance"] is None and known["sha256"]  # counted and hashed, not analysed
    assert got[str(src / "os-file.dll")]["state"] == "known"
    assert got[str(src / "1.jpg")]["state"] == "done" and got[str(src / "1.jpg")]["provenance"]
    assert summary.known == 2
    assert custody_actions(case).count("exclusions.loaded") == 2
    # Known files never become bank entries or VICS media.
    assert '"MediaID": ' + str(known["id"]) not in (case / "vics.json").read_text()


def test_nsrl_rds_v3_database(tmp_path: Path, src: Path, scan: ScanFn) -> None:
    db = _nsrl(
        tmp_path / "RDS_modern_minimal.db",
        [hashlib.sha256((src / "os-file.dll").read_bytes()).hexdigest(), "ab" * 32],
    )
    spec = exclusion.describe(str(db))
    assert spec.format == "nsrl" and spec.column == "sha256"
    case = tmp_path / "case"
    scan(case, [src], exclusion_lists=(spec.to_json(),), jobs=1)
    got = items(case)
    assert got[str(src / "os-file.dll")]["state"] == "known"
    assert got[str(src / "os-file.dll")]["known"] == '["RDS_modern_minimal.db"]'
    assert sum(r["state"] == "known" for r in got.values()) == 1


def test_unusable_lists_are_refused_with_a_reason(tmp_path: Path) -> None:
    unindexed = _nsrl(tmp_path / "rds.db", ["cd" * 32], index=False)
    with pytest.raises(TriageError, match="no index"):
        exclusion.describe(str(unindexed))
    junk = tmp_path / "list.txt"
    junk.write_text("this is not a hash\n")
    with pytest.raises(TriageError, match="line 1"):
        exclusion.describe(str(junk))
    with pytest.raises(TriageError, match="cannot be used"):
        exclusion.describe(str(tmp_path / "missing.md5"))
