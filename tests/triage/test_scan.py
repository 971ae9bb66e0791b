"""A scan end to end on a Hong-Kong-shaped case: per-person folders of synthetic originals and the
AI-made pictures derived from them, plus documents, damage and an archive."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from takeback.signals.fingerprint import FingerprintOptions, fingerprint_file
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes
from tests.triage.conftest import ScanFn, custody_actions, items, rows


def _read_noatime(p: Path) -> bytes:
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except BaseException:
        raise


def _tree_state(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Content hash, size, mtime and atime of every file: proof the scan modified nothing."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            st = p.stat()
            out[str(p)] = (
                hashlib.sha256(_read_noatime(p)).hexdigest(),
                st.st_size,
                st.st_mtime_ns,
                st.st_atime_ns,
            )
    return out


def _age_access_times(root: Path) -> None:
    """Access times older than modification times: any ordinary read would now update them."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            st = p.stat()
            os.utime(p, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))


@pytest.fixture
def seized(tmp_path: Path) -> tuple[Path, dict[str, list[Path]]]:
    root = tmp_path / "laptop"
    made = scenes.write_case(root, people=2, photos=1, size=(640, 480))
    (root / "docs").mkdir()
    (root / "docs" / "letter.pdf").write_bytes(b"%PDF-1.4\n% not much of a pdf\n")
    (root / "docs" / "notes.txt").write_text("meeting at 5\n")
    full = encode(synthetic_photo(300, 200, seed=50), "JPEG")
    (root / "docs" / "broken.jpg").write_bytes(full[: len(full) // 3])
    # an archive holding a nested archive
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/pic.jpg", encode(synthetic_photo(320, 240, seed=60), "JPEG"))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("album/a.jpg", encode(synthetic_photo(320, 240, seed=61), "JPEG"))
        z.writestr("album/inner.zip", inner.getvalue())
    (root / "backup.zip").write_bytes(outer.getvalue())
    return root, made


def test_scan_records_every_item_and_never_touches_the_source(
    tmp_path: Path, scan: ScanFn, seized: tuple[Path, dict[str, list[Path]]]
) -> None:
    root, made = seized
    _age_access_times(root)
    before = _tree_state(root)
    case = tmp_path / "case"
    summary = scan(case, [root])
    assert _tree_state(root) == before  # contents, sizes, modification and access times

    got = items(case)
    paths = set(got)
    for p in made["originals"] + made["derived"]:
        assert str(p) in paths
    assert f"{root}/backup.zip!/album/a.jpg" in paths
    assert f"{root}/backup.zip!/album/inner.zip!/deep/pic.jpg" in paths
    assert summary.items == len(got) and all(r["state"] == "done" for r in got.values())

    # Per item: the same hashes the one hashing entry point gives, plus SHA-1 and timestamps.
    orig = made["originals"][0]
    rec = got[str(orig)]
    fp = fingerprint_file(orig, options=FingerprintOptions(dihedral=True))
    data = orig.read_bytes()
    assert rec["sha256"] == fp.hex("sha256") and rec["md5"] == fp.hex("md5")
    assert rec["sha1"] == hashlib.sha1(data).hexdigest()
    assert (
        rec["pdq"] == fp.hex("pdq")
        and rec["pdq_dihedral"].split() == fp.to_record(dihedral=True)["pdq_dihedral"]
    )
    assert rec["size"] == len(data) and rec["mtime"] and rec["media_type"] == "image/jpeg"
    exif = json.loads(rec["exif"])
    assert (
        exif["Make"] == "Canon"
        and exif["Model"] == "EOS 80D"
        and exif["DateTimeOriginal"].startswith("2024:05:01")
    )
    assert rec["tier"] is None  # a camera original: no AI provenance

    # AI-made derivatives carry generator metadata: tier 2, named generator.
    ai = got[str(made["derived"][0])]
    assert ai["tier"] == 2 and ai["ai"] == 1 and ai["generator"] == "AUTOMATIC1111 Stable Diffusion WebUI"
    member = got[f"{root}/backup.zip!/album/inner.zip!/deep/pic.jpg"]
    assert member["depth"] == 2 and member["pdq"] and member["sha256"]

    broken = got[str(root / "docs" / "broken.jpg")]
    assert broken["error_code"] == "truncated_image" and broken["sha256"]
    letter = got[str(root / "docs" / "letter.pdf")]
    assert letter["error_code"] is None and letter["kind"] == "document" and letter["pdq"] is None
    assert summary.errors == 1


def test_groups_folders_duplicates_and_derivatives(
    tmp_path: Path, scan: ScanFn, seized: tuple[Path, dict[str, list[Path]]]
) -> None:
    root, made = seized
    (root / "person_00" / "copy.jpg").write_bytes(made["originals"][0].read_bytes())
    with Image.open(made["originals"][0]) as im:  # a rotated copy: the same picture, not a derivative
        im.transpose(Image.Transpose.ROTATE_90).save(root / "person_00" / "rotated.jpg", quality=90)
    case = tmp_path / "case"
    scan(case, [root])
    groups = rows(case, "SELECT * FROM grp ORDER BY id")
    folders = {g["label"] for g in groups if g["kind"] == "folder"}
    assert {"person_00", "person_01", "album", "deep"} <= folders
    by_path = {r["path"]: r["id"] for r in rows(case, "SELECT id, path FROM item")}

    def members(gid: int) -> set[int]:
        return {r["item_id"] for r in rows(case, "SELECT item_id FROM grp_member WHERE group_id = ?", gid)}

    stacks = [members(g["id"]) for g in groups if g["kind"] == "near_duplicates"]
    assert {by_path[str(made["originals"][0])], by_path[str(root / "person_00" / "copy.jpg")]} in [
        s & {by_path[str(made["originals"][0])], by_path[str(root / "person_00" / "copy.jpg")]}
        for s in stacks
    ]
    rotated = by_path[str(root / "person_00" / "rotated.jpg")]
    assert any({by_path[str(made["originals"][0])], rotated} <= s for s in stacks)
    # Every derivative is linked to its original, which is the source (AI provenance on the derivative).
    links = rows(case, "SELECT * FROM link")
    linked = {(lk["source_item"], lk["derived_item"]) for lk in links if lk["directed"]}
    for person in range(2):
        o = by_path[str(made["originals"][person])]
        for kind in ("undress", "crop"):
            d = by_path[str(root / f"person_{person:02d}" / f"IMG_{person:02d}00_{kind}.png")]
            assert (o, d) in linked, (kind, [dict(x) for x in links])
    assert all(rotated not in (lk["source_item"], lk["derived_item"]) for lk in links)
    # Nothing links the two people.
    p0 = {by_path[str(p)] for p in made["originals"] + made["derived"] if "person_00" in str(p)}
    for lk in links:
        assert (lk["source_item"] in p0) == (lk["derived_item"] in p0)
    assert "grouping.completed" in custody_actions(case)


def test_tar_gz_and_archive_hashes_before_and_after(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(3):
            data = encode(synthetic_photo(200, 150, seed=70 + i), "PNG")
            ti = tarfile.TarInfo(f"photos/{i}.png")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("photos/link.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    archive = src / "seized.tar.gz"
    archive.write_bytes(buf.getvalue())
    case = tmp_path / "case"
    scan(case, [archive])
    got = items(case)
    for i in range(3):
        assert got[f"{archive}!/photos/{i}.png"]["pdq"]
    assert got[f"{archive}!/photos/link.png"]["error_code"] == "archive_link"
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    src_row = rows(case, "SELECT * FROM source")[0]
    assert src_row["kind"] == "archive" and src_row["sha256_before"] == sha and src_row["sha256_after"] == sha
    verified = [
        json.loads(r["details"])
        for r in rows(case, "SELECT details FROM custody_entry WHERE action = 'archive.verified'")
    ]
    assert verified and verified[0]["unchanged"] is True and verified[0]["sha256_after"] == sha


def test_single_file_source_and_rescan_is_a_no_op(tmp_path: Path, scan: ScanFn) -> None:
    f = tmp_path / "one.jpg"
    f.write_bytes(encode(synthetic_photo(200, 150, seed=3), "JPEG"))
    case = tmp_path / "case"
    first = scan(case, [f])
    assert first.items == 1 and not first.resumed
    again = scan(case, None)  # no sources: the recorded ones
    assert again.resumed and again.items == 1 and again.repeated == 0
    assert rows(case, "SELECT attempts FROM item")[0]["attempts"] == 1
    assert custody_actions(case).count("scan.completed") == 2
