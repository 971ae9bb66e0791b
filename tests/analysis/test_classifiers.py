"""Tier 4: plug-in classifiers rank review and never decide; none ship."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from takeback.analysis.errors import AnalysisError
from takeback.analysis.provenance import InspectOptions, classifiers, inspect
from takeback.analysis.provenance.classifiers import Classifier, ClassifierScore, classify, load_classifiers
from tests.conftest import encode, synthetic_photo


class Brightness:
    """A toy plug-in: mean brightness as a 'score' (stands in for a real model)."""

    name = "brightness"
    version = "0.1"
    weights_source = "none (test double)"

    def score(self, rgb: np.ndarray) -> ClassifierScore:
        return ClassifierScore(score=float(rgb.mean()) / 255.0, label="bright")


class Broken(Brightness):
    name = "broken"

    def score(self, rgb: np.ndarray) -> ClassifierScore:
        raise RuntimeError("model exploded")


def test_none_ship() -> None:
    assert load_classifiers() == []


def test_plugins_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [SimpleNamespace(name="brightness", load=lambda: Brightness)]
    monkeypatch.setattr(classifiers, "entry_points", lambda group: eps)
    (loaded,) = load_classifiers()
    assert isinstance(loaded, Classifier) and loaded.name == "brightness"
    with pytest.raises(AnalysisError) as exc:
        load_classifiers(["missing"])
    assert exc.value.code == "classifier_unavailable"
    monkeypatch.setattr(
        classifiers, "entry_points", lambda group: [SimpleNamespace(name="x", load=lambda: object)]
    )
    with pytest.raises(AnalysisError) as exc:
        load_classifiers()
    assert exc.value.code == "classifier_invalid"


def test_scores_are_tier_4_and_never_a_verdict() -> None:
    found = inspect(
        encode(synthetic_photo(400, 300), "PNG"), options=InspectOptions(classifiers=(Brightness(),))
    )
    (f,) = [f for f in found.findings if f.kind == "classifier.score"]
    assert f.tier == 4 and f.indicates == "unknown" and 0 < f.details["score"] < 1
    assert "review ordering only" in f.summary
    assert found.headline() == "no provenance found"  # a score never makes a headline
    assert "classifier:brightness" in found.checks


def test_a_failing_plugin_becomes_an_error_finding() -> None:
    f = classify(Broken(), np.zeros((10, 10, 3), np.uint8))
    assert f.error is not None and f.error.code == "classifier_failed" and "exploded" not in f.error.message
