"""Nudity detection with NudeNet's ONNX detector, to put likely-intimate images first in review.

The model (``nudenet/320n.onnx``, 18 body-part classes) ships inside the ``nudenet`` pip package and is
loaded from there: nothing is downloaded. We run it on onnxruntime ourselves instead of through
``nudenet.NudeDetector`` so pixels come from :func:`takeback.media.decode_image` (limits, EXIF
orientation, HEIC) rather than ``cv2.imread``, images can be batched, and one session is shared by
every thread (onnxruntime sessions are safe to call concurrently). Pre- and post-processing follow
NudeNet 3.4 exactly (pad to square at the bottom/right, 320x320, scores >= 0.2, NMS 0.25/0.45), and
``tests/analysis`` checks the results against ``NudeDetector`` itself.

A score orders review; it is not a finding about a person and never a verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, Field

from takeback.analysis.errors import AnalysisError
from takeback.media import Limits, MediaError, decode_image

LABELS = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
# The labels that make an image intimate for triage purposes (the image-level score is their maximum).
EXPLICIT = frozenset(
    {
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
# NudeNet reports boxes from 0.2 up; below 0.5 we saw false alarms on synthetic blobs, so the
# image-level flag needs 0.5 (the score itself is always reported, for ordering).
EXPLICIT_THRESHOLD = 0.5
EXPOSED = frozenset(label for label in LABELS if label.endswith("_EXPOSED"))
INPUT_SIZE = 320
MIN_SCORE = 0.2
NMS_SCORE, NMS_IOU = 0.25, 0.45
MODEL_NAME = "nudenet 320n"


class Detection(BaseModel):
    label: str
    score: float
    box: list[int] = Field(description="x, y, width, height in pixels of the upright image")


class NudityResult(BaseModel):
    """Boxes and an image-level score (max score of an explicit label; 0 when none).

    ``explicit`` is ``score >= EXPLICIT_THRESHOLD``: a review-priority flag, not a finding.
    """

    model: str = MODEL_NAME
    score: float
    explicit: bool
    detections: list[Detection]


@dataclass(frozen=True, slots=True)
class _Prepared:
    blob: np.ndarray  # (3, 320, 320) float32
    width: int
    height: int
    pad_x: int
    pad_y: int


def _prepare(rgb: np.ndarray) -> _Prepared:
    h, w = rgb.shape[:2]
    side = max(h, w)
    padded = cv2.copyMakeBorder(rgb, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    resized = cv2.resize(padded, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    # NudeNet's own path hands the network BGR (cv2.imread's BGR, swapped by cvtColor(RGBA2BGR), swapped
    # back by blobFromImage(swapRB=True)): the weights expect that order, so we reproduce it.
    blob = np.ascontiguousarray(resized[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) * np.float32(
        1 / 255.0
    )
    return _Prepared(blob, w, h, side - w, side - h)


def _postprocess(output: np.ndarray, p: _Prepared) -> list[Detection]:
    rows = output.T  # (anchors, 4 + classes)
    scores_all = rows[:, 4:]
    class_ids = np.argmax(scores_all, axis=1)
    scores = scores_all[np.arange(rows.shape[0]), class_ids]
    keep = scores >= MIN_SCORE
    if not np.any(keep):
        return []
    rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
    sx = (p.width + p.pad_x) / INPUT_SIZE
    sy = (p.height + p.pad_y) / INPUT_SIZE
    boxes: list[list[float]] = []
    for cx, cy, bw, bh in rows[:, :4].tolist():
        x = max(0.0, min((cx - bw / 2) * sx, float(p.width)))
        y = max(0.0, min((cy - bh / 2) * sy, float(p.height)))
        boxes.append([x, y, min(bw * sx, p.width - x), min(bh * sy, p.height - y)])
    picked = cv2.dnn.NMSBoxes(boxes, scores.astype(float).tolist(), NMS_SCORE, NMS_IOU)
    out = []
    for i in np.asarray(picked, dtype=int).reshape(-1).tolist():
        x, y, bw, bh = boxes[i]
        out.append(
            Detection(
                label=LABELS[int(class_ids[i])],
                score=float(scores[i]),
                box=[int(x), int(y), int(bw), int(bh)],
            )
        )
    return out


def _result(dets: list[Detection]) -> NudityResult:
    score = max((d.score for d in dets if d.label in EXPLICIT), default=0.0)
    return NudityResult(score=score, explicit=score >= EXPLICIT_THRESHOLD, detections=dets)


class NudityDetector:
    """One shared onnxruntime session, created on first use. Safe to call from many threads."""

    def __init__(self, *, threads: int = 1) -> None:
        self._threads = threads
        self._session: Any = None
        self._input: str = ""
        self._lock = threading.Lock()

    def _ensure(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime

                    try:
                        model = resources.files("nudenet").joinpath("320n.onnx").read_bytes()
                    except (ModuleNotFoundError, FileNotFoundError) as exc:
                        raise AnalysisError(
                            "The NudeNet model is not installed (pip package 'nudenet' ships it).",
                            code="model_missing",
                        ) from exc
                    opts = onnxruntime.SessionOptions()
                    opts.intra_op_num_threads = self._threads
                    opts.inter_op_num_threads = 1
                    session = onnxruntime.InferenceSession(
                        model, sess_options=opts, providers=["CPUExecutionProvider"]
                    )
                    self._input = session.get_inputs()[0].name
                    self._session = session
        return self._session

    def detect_pixels(self, images: Sequence[np.ndarray], *, batch_size: int = 8) -> list[NudityResult]:
        """Results for upright uint8 RGB arrays (H, W, 3), in order, run ``batch_size`` at a time."""
        session = self._ensure()
        results: list[NudityResult] = []
        for start in range(0, len(images), batch_size):
            prepared = [_prepare(img) for img in images[start : start + batch_size]]
            batch = np.stack([p.blob for p in prepared])
            (output,) = session.run(None, {self._input: batch})[:1]
            results.extend(_result(_postprocess(output[i], p)) for i, p in enumerate(prepared))
        return results

    def detect_bytes(self, data: bytes, *, limits: Limits | None = None) -> NudityResult:
        """Decode (through ``takeback.media``) and score one image. Raises MediaError for bad input."""
        decoded = decode_image(data, limits=limits or Limits(), want="rgb")
        return self.detect_pixels([decoded.pixels])[0]


_default: NudityDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> NudityDetector:
    """The process-wide detector (the model is loaded once, lazily)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = NudityDetector()
        return _default


__all__ = [
    "EXPLICIT",
    "EXPOSED",
    "LABELS",
    "Detection",
    "MediaError",
    "NudityDetector",
    "NudityResult",
    "default_detector",
]
