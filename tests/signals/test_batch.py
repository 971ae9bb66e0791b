"""Parallel fingerprinting: order, chunking, and survival when a native decoder kills a worker."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from takeback.signals import batch
from takeback.signals.fingerprint import fingerprint_file
from tests.conftest import encode, synthetic_photo


def _make(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = folder / f"img{i:02d}.png"
        p.write_bytes(encode(synthetic_photo(40, 30, seed=i), "PNG"))
        paths.append(p)
    return paths


def test_parallel_order_matches_serial(tmp_path: Path) -> None:
    _make(tmp_path, 30)
    (tmp_path / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff" + bytes(50))
    serial = list(batch.fingerprint_paths([str(tmp_path)], jobs=1))
    parallel = list(batch.fingerprint_paths([str(tmp_path)], jobs=2))
    assert [f.path for f in serial] == [f.path for f in parallel]
    assert [f.hex("pdq") for f in serial] == [f.hex("pdq") for f in parallel]
    assert parallel[-1].error is not None


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="needs fork to inject a crash")
def test_worker_crash_is_isolated_to_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _make(tmp_path, 20)
    victim = paths[9]

    def crashing(path: str, **kw: object) -> object:
        if os.path.basename(path) == victim.name:
            os._exit(3)  # what a segfaulting decoder looks like to the pool
        return fingerprint_file(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "fingerprint_file", crashing)
    results = list(batch.fingerprint_paths([str(tmp_path)], jobs=2))
    assert len(results) == 20
    by_name = {Path(r.path).name: r for r in results}
    assert by_name[victim.name].error == {
        "code": "decoder_crash",
        "message": "The decoder crashed on this file; it was skipped.",
    }
    assert all(r.error is None and r.hex("pdq") for n, r in by_name.items() if n != victim.name)


def _analyse(path: str) -> dict[str, object]:
    """A per-file analysis for the hook: where it ran, and a failure on one file."""
    if path.endswith("img03.png"):
        raise ValueError("boom")
    return {"size": os.path.getsize(path), "pid": os.getpid()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_analysis_runs_beside_the_hashes_and_a_failure_costs_one_file(tmp_path: Path, jobs: int) -> None:
    paths = _make(tmp_path, 12)
    results = list(batch.fingerprint_paths([str(tmp_path)], jobs=jobs, analyse=_analyse))
    assert len(results) == 12 and all(r.hex("pdq") for r in results)
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["img03.png"].analysis == {
        "error": {"code": "analysis_failed", "message": "Analysis failed (ValueError)."}
    }
    for p in paths:
        if p.name != "img03.png":
            got = by_name[p.name].analysis
            assert got is not None and got["size"] == p.stat().st_size
    pids = {r.analysis["pid"] for r in results if r.analysis and "pid" in r.analysis}
    assert (os.getpid() in pids) == (jobs == 1)  # with workers, the analysis runs in them
