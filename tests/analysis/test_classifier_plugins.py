"""An installed tier-4 plug-in runs in ``takeback inspect`` and in ``takeback scan`` (the same path:
``inspect_bytes`` loads every installed plug-in), registered through a real entry point: a test-only
distribution on PYTHONPATH, no network, no weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.banks.helpers import Cli, cli  # noqa: F401  (the fixture)
from tests.conftest import encode, synthetic_photo

PLUGIN = """
from takeback.analysis.provenance.classifiers import ClassifierScore


class Mean:
    name = "toy-mean"
    version = "1.0"
    weights_source = "none (test-only plug-in)"

    def score(self, rgb):
        return ClassifierScore(score=float(rgb.mean()) / 255.0, label="toy")


def make():
    return Mean()
"""


def _install(root: Path) -> dict[str, str]:
    """A distribution declaring two ``takeback.classifiers`` entry points: one that works, one broken."""
    (root / "toy_takeback_classifier.py").write_text(PLUGIN)
    info = root / "toy_takeback_classifier-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-takeback-classifier\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[takeback.classifiers]\n"
        "toy-mean = toy_takeback_classifier:make\n"
        "toy-broken = toy_takeback_classifier:missing\n"
    )
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{root}{os.pathsep}{path}" if path else str(root)}


def _scores(findings: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(f["details"]["classifier"]): f for f in findings if f["kind"] == "classifier.score"}  # type: ignore[index]


def test_installed_plugins_run_in_inspect_and_scan(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    plug = tmp_path / "plug"
    plug.mkdir()
    cli.env.update(_install(plug))
    src = tmp_path / "src"
    src.mkdir()
    (src / "photo.png").write_bytes(encode(synthetic_photo(200, 150, seed=4), "PNG"))

    r = cli.process("inspect", str(src / "photo.png"), "--format", "jsonl")
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert "classifier:toy-mean" in rec["checks"], r.stderr
    got = _scores(rec["findings"])
    assert got["toy-mean"]["tier"] == 4 and got["toy-mean"]["indicates"] == "unknown"
    assert 0 < got["toy-mean"]["details"]["score"] < 1  # type: ignore[index]
    # a plug-in that will not load is a finding with its error on the file, never a crash
    assert got["toy-broken"]["error"]["code"] == "classifier_unavailable"  # type: ignore[index]

    case = tmp_path / "case"
    r = cli.process("scan", str(src), "--case", str(case), "-j", "1", "--no-nudity", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (item,) = [json.loads(line) for line in (case / "items.jsonl").read_text().splitlines()]
    text = json.dumps(item)
    assert "toy-mean" in text and "review ordering only" in text
