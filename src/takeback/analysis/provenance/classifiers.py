"""Tier 4: a plug-in interface for ML "AI-generated?" classifiers. None ships with takeback.

Why none ships: published detectors that score 92-96 % on their own benchmark fall to 40-61 % on
JPEG-heavy data, and one upscale can flip a real photo from 0.00 to 0.99, so a score cannot be evidence.
No PyPI package ships such weights either, and takeback never downloads models. A classifier may
still help *order* review, so a deployment can install one as a plug-in: any installed distribution
that declares an entry point in the ``takeback.classifiers`` group, naming a zero-argument factory
that returns an object with this interface. Its output always becomes a tier-4 finding with
``indicates = unknown``: it ranks, it never decides. Installing one is the opt-in: ``inspect`` (and so
``takeback inspect``, ``hash --inspect`` and ``scan``) runs every installed plug-in unless its options
name others (:func:`installed_classifiers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from takeback.analysis.errors import AnalysisError
from takeback.analysis.provenance import fragility
from takeback.analysis.provenance.models import Evidence, Finding, FindingError, Indicates, Tier

ENTRY_POINT_GROUP = "takeback.classifiers"


class ClassifierScore(BaseModel):
    """A classifier's output for one image: a score in 0..1 where higher means "more likely AI"."""

    score: float = Field(ge=0.0, le=1.0)
    label: str | None = None
    details: dict[str, float | str] = Field(default_factory=dict)


@runtime_checkable
class Classifier(Protocol):
    """What a plug-in provides. ``score`` receives upright uint8 RGB pixels (H, W, 3)."""

    name: str
    version: str
    #: where its weights came from (package and version), shown beside every score
    weights_source: str

    def score(self, rgb: np.ndarray) -> ClassifierScore: ...


def load_classifiers(names: Sequence[str] | None = None) -> list[Classifier]:
    """Installed plug-ins (all, or those named). A broken plug-in raises AnalysisError naming it."""
    found = [_load(ep) for ep in entry_points(group=ENTRY_POINT_GROUP) if names is None or ep.name in names]
    missing = set(names or ()) - {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if missing:
        raise AnalysisError(
            f"No installed classifier plug-in named {', '.join(sorted(missing))}.",
            code="classifier_unavailable",
        )
    return found


def _load(ep: EntryPoint) -> Classifier:
    try:
        obj = ep.load()()
    except Exception as exc:
        raise AnalysisError(
            f"The classifier plug-in '{ep.name}' could not be loaded: {type(exc).__name__}: {exc}",
            code="classifier_unavailable",
        ) from None
    if not isinstance(obj, Classifier):
        raise AnalysisError(
            f"The plug-in '{ep.name}' does not provide name, version, weights_source and score().",
            code="classifier_invalid",
        )
    return obj


@lru_cache(maxsize=1)
def installed_classifiers() -> tuple[tuple[Classifier, ...], tuple[Finding, ...]]:
    """Every installed plug-in, loaded once per process (a scan's workers each load their own), and a
    tier-4 finding with its error for each one that would not load: a broken plug-in shows on every
    file it should have scored, and never stops a batch."""
    found: list[Classifier] = []
    failed: list[Finding] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append(_load(ep))
        except AnalysisError as exc:
            failed.append(_finding(ep.name, "", "", None, FindingError(code=exc.code, message=exc.message)))
    return tuple(found), tuple(failed)


def classify(classifier: Classifier, rgb: np.ndarray) -> Finding:
    """Run one classifier; its result (or its failure) as a tier-4 finding that indicates nothing."""
    try:
        result = classifier.score(rgb)
        error = None
    except Exception as exc:  # a plug-in bug must not stop a scan
        result = None
        error = FindingError(
            code="classifier_failed", message=f"{classifier.name} failed: {type(exc).__name__}"
        )
    return _finding(classifier.name, classifier.version, classifier.weights_source, result, error)


def _finding(
    name: str, version: str, weights_source: str, result: ClassifierScore | None, error: FindingError | None
) -> Finding:
    summary = (
        f"{name} {version} score {result.score:.2f} (review ordering only, not evidence)"
        if result is not None
        else f"{name} {version} could not score this image"
        if version
        else f"The classifier plug-in {name} could not be loaded, so it scored nothing"
    )
    return Finding(
        tier=Tier.ML_RANKING,
        kind="classifier.score",
        summary=summary,
        indicates=Indicates.UNKNOWN,
        generator=None,
        confidence=0.0,
        forgeable=True,
        fragility=fragility.CLASSIFIER,
        details={
            "classifier": name,
            "version": version,
            "weights_source": weights_source,
            **(
                {"score": result.score, "label": result.label, **result.details} if result is not None else {}
            ),
        },
        evidence=[Evidence(source="pixels:rgb", field=name)],
        error=error,
    )
