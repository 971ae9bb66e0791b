"""Hostile sources (issue 12): links that lead out of the source are one item each, never walked or read;
links inside the source are resolved without leaving it; the scan completes and re-runs cleanly."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeback.triage import errors as codes
from takeback.triage import sources
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, items

JPEG = encode(synthetic_photo(200, 150, seed=1), "JPEG")


def test_links_to_the_whole_machine_are_one_item_each(tmp_path: Path, scan: ScanFn) -> None:
    """``root -> /`` and ``etc -> /etc`` (the probe's cases): one ``symlink_outside_source`` row each,
    nothing of the examiner's machine listed or read (the old walk listed ~74,000 files, then died in
    ``/proc``); running the same command again completes too."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.jpg").write_bytes(JPEG)
    (src / "root").symlink_to("/")
    (src / "etc").symlink_to("/etc")
    (src / "proc").symlink_to("/proc/self/root")
    (src / "hop1").symlink_to("hop2")  # a chain that leaves on its second hop
    (src / "hop2").symlink_to("/etc/passwd")
    case = tmp_path / "case"
    summary = scan(case, [src])
    got = items(case)
    assert set(got) == {str(src / n) for n in ("real.jpg", "root", "etc", "proc", "hop1", "hop2")}
    for name, shown in (
        ("root", "/"),
        ("etc", "/etc"),
        ("proc", "/proc"),
        ("hop1", "/etc"),
        ("hop2", "/etc"),
    ):
        rec = got[str(src / name)]
        assert rec["error_code"] == codes.SYMLINK_OUTSIDE, name
        assert f"(to {shown})" in rec["error_message"], rec["error_message"]
        assert rec["sha256"] is None and rec["size"] is None  # never read, never even stat'ed
    assert got[str(src / "real.jpg")]["pdq"]
    with open(case / "items.csv", newline="") as fh:
        paths = [row["path"] for row in csv.DictReader(fh)]
    assert len(paths) == 6 and not any(p.startswith(("/etc", "/proc", "/usr")) for p in paths)
    assert "/etc/passwd" not in (case / "report.html").read_text()
    again = scan(case, [src])
    assert again.items == summary.items == 6


def test_links_inside_the_source(tmp_path: Path, scan: ScanFn) -> None:
    """Resolved lexically inside the source: a file link is read through the link, a folder link is one
    item (its folder is scanned once, under its own path), loops and long chains are loops."""
    outside = tmp_path / "examiner-home"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(JPEG)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "real.jpg").write_bytes(JPEG)
    (src / "sub" / "a.jpg").write_bytes(encode(synthetic_photo(120, 90, seed=2), "JPEG"))
    (src / "out.jpg").symlink_to(outside / "secret.jpg")
    (src / "outdir").symlink_to(outside)
    (src / "in.jpg").symlink_to(src / "real.jpg")
    (src / "roundabout.jpg").symlink_to("../src/sub/../real.jpg")  # leaves and re-enters lexically
    (src / "alias").symlink_to("sub")
    (src / "sub" / "loop").symlink_to(src)
    (src / "ping").symlink_to("pong")
    (src / "pong").symlink_to("ping")
    (src / "broken").symlink_to(src / "nowhere")
    (src / "broken_out").symlink_to(tmp_path / "nowhere")
    case = tmp_path / "case"
    scan(case, [src])
    got = items(case)
    assert got[str(src / "out.jpg")]["error_code"] == codes.SYMLINK_OUTSIDE
    assert got[str(src / "out.jpg")]["sha256"] is None  # never read
    outdir = got[str(src / "outdir")]
    assert outdir["error_code"] == codes.SYMLINK_OUTSIDE and str(outside) in outdir["error_message"]
    assert not any(p.startswith(str(src / "outdir") + "/") for p in got)  # never entered
    assert got[str(src / "in.jpg")]["pdq"] == got[str(src / "real.jpg")]["pdq"]
    assert got[str(src / "roundabout.jpg")]["sha256"] == got[str(src / "real.jpg")]["sha256"]
    alias = got[str(src / "alias")]
    assert alias["error_code"] is None and codes.SYMLINK_FOLDER in alias["warnings"]
    assert str(src / "alias" / "a.jpg") not in got and got[str(src / "sub" / "a.jpg")]["pdq"]  # once
    assert got[str(src / "sub" / "loop")]["error_code"] == "symlink_loop"
    assert got[str(src / "ping")]["error_code"] == "symlink_loop"
    assert got[str(src / "broken")]["error_code"] == "not_found"
    assert got[str(src / "broken_out")]["error_code"] == codes.SYMLINK_OUTSIDE


def test_resolve_link_never_looks_outside_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing outside the source is lstat'ed or read while a link is resolved."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").symlink_to("/proc/self/exe")
    seen: list[str] = []
    real_lstat = os.lstat

    def spy(path: str) -> os.stat_result:
        seen.append(os.fsdecode(path))
        return real_lstat(path)

    monkeypatch.setattr(sources.os, "lstat", spy)
    where = sources.resolve_link(str(src / "a"), str(src))
    monkeypatch.undo()
    assert where.verdict == "outside" and where.shown == "/proc"
    assert all(p.startswith(str(src)) for p in seen)


def test_a_source_nested_thousands_of_folders_deep(tmp_path: Path, scan: ScanFn) -> None:
    """The recursive walk died with ``RecursionError`` at ~1,000 levels (every re-run too); past
    ``PATH_MAX`` a folder is one ``read_error`` item and the rest of the source is scanned."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "top.jpg").write_bytes(JPEG)
    here = os.getcwd()
    os.chdir(src)
    try:
        for depth in range(1, 2301):
            os.mkdir("a")
            os.chdir("a")
            if depth == 1200:
                with open("mid.jpg", "wb") as fh:
                    fh.write(JPEG)
    finally:
        os.chdir(here)
    (src / "z.jpg").write_bytes(JPEG)
    case = tmp_path / "case"
    scan(case, [src], outputs=False)
    got = items(case)
    mid = str(src / "/".join(["a"] * 1200) / "mid.jpg")
    assert got[mid]["sha256"] == got[str(src / "top.jpg")]["sha256"] == got[str(src / "z.jpg")]["sha256"]
    too_long = [r for r in got.values() if r["error_code"] == "read_error"]
    assert len(too_long) == 1 and "too long" in too_long[0]["error_message"]


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """Take any deep tree down level by level: pytest's own clean-up of old temp folders recurses and
    dies with ``RecursionError`` past ~1,000 levels (and on paths past ``PATH_MAX``)."""
    yield
    deep = tmp_path / "src" / "a"
    if not deep.is_dir():
        return
    here = os.getcwd()
    try:
        os.chdir(deep)
        while True:
            for name in os.listdir("."):
                if name != "a":
                    os.unlink(name)
            if os.path.isdir("a"):
                os.chdir("a")
                continue
            os.chdir("..")
            os.rmdir("a")
            if os.path.samefile(".", tmp_path / "src"):
                break
    finally:
        os.chdir(here)
