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
    assert [f.pdq for f in serial] == [f.pdq for f in parallel]
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
    assert all(r.error is None and r.pdq for n, r in by_name.items() if n != victim.name)
