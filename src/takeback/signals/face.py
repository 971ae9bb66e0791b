"""The ``face`` signal: every face in a photo, each with an embedding and what limits trusting it.

Pipeline (why each step):

- **Detect on a small copy** (long side about 640 px; the short side raised to 320 px when the
  image is smaller, since YuNet misses faces in tiny images): detection cost grows with pixels and
  YuNet finds the same faces at 640 px as at full resolution for the faces that can be compared at
  all. **Align and embed from full resolution**: the landmarks are scaled back and SFace's
  ``alignCrop`` cuts the 112 x 112 face from the original pixels, so a face keeps all its detail.
- **Pad a face that fills the frame**: detectors are trained on faces with context around them and
  miss a face cropped to its edges; when nothing is found, the copy is framed in a plain border
  (a quarter of its long side on each side), shrunk to 320 px, and searched again.
- **The dihedral orientations** (90, 180, 270 degrees, and mirrored): a rotated upload hides every
  face from an upright-only detector. YuNet also "finds" upside-down and sideways faces, with
  lower scores, so a top score of 0.92 or more settles the orientation at once (an upright face
  costs one detection) and otherwise every orientation is tried and the best top score wins.
- **Warnings, never silent drops**: ``tiny`` (the face's short side under 40 px: SFace looks at
  112 x 112 and a smaller face has little identity left in it); ``blurred`` (variance of the
  Laplacian of the aligned 112 x 112 crop under 120: sharp ORL faces measure 240-1300, the same
  face 270 px tall blurred with sigma 6 measures 100); ``profile`` (the nose far off the eyes'
  midpoint, or the eyes close together for the face's width: a turned head); ``occluded``
  (detector score under 0.85; clear faces score 0.91-0.95 on ORL: a low score is usually a hand,
  hair, a mask or a non-face).

Embeddings are 128 ``float32`` little-endian, L2-normalised: 512 bytes, compared by cosine
similarity (:func:`similarity`). They are personal data of a consenting person (enrolment) or of a
case's subject: the ``face`` type is registered apart from the bankable types
(:data:`takeback.signals.PERSONAL`), so banks, exports and the HMA routes never see it, and no
embedding is ever part of a ``repr``, a log line, an audit detail or an exception message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from takeback.media import Limits, MediaType, decode_image
from takeback.signals.base import ContentType, IndexKind, SignalError, SignalType, SignalValue
from takeback.signals.facemodel import EMBED_DIM, Detection, FaceModel, get_face_model

if TYPE_CHECKING:
    from collections.abc import Sequence

#: the detection copy's long side, and the least short side it is raised to
DETECT_LONG_SIDE = 640
DETECT_MIN_SHORT_SIDE = 320
#: a raised copy's long side stays under this (a 50 x 5000 strip is not made 32,000 px long)
DETECT_MAX_SIDE = 1600
#: border added on each side, as a share of the copy's long side, when nothing was found; the
#: framed copy is then shrunk to this long side (YuNet scores a face over about 400 px poorly:
#: an ORL face cropped to its edges, framed, is found at 320 px (score 0.94) and missed at 960)
PAD_SHARE = 0.25
PAD_LONG_SIDE = 320

TINY_BELOW = 40
BLUR_BELOW = 120.0
#: |nose offset along the eye line| / eye distance above this is a turned head (ORL's frontal and
#: slightly turned faces measure at most 0.26)
PROFILE_YAW = 0.35
#: eye distance / box width below this is a turned head too (the far eye hidden behind the nose)
PROFILE_EYES = 0.25
OCCLUDED_BELOW = 0.85
#: a top score at or above this settles the orientation; under it the other orientations are tried
SURE_SCORE = 0.92

#: OpenCV's published SFace cosine threshold, only until calibration (``docs/FACES.md``) sets one
OPENCV_COSINE_THRESHOLD = 0.363

EMBED_BYTES = EMBED_DIM * 4
_LE = np.dtype("<f4")


class FaceWarning(StrEnum):
    TINY = "tiny"
    BLURRED = "blurred"
    PROFILE = "profile"
    OCCLUDED = "occluded"


class Orientation(StrEnum):
    """How the image was turned when its faces were found (``rot90``: 90 degrees anticlockwise)."""

    UPRIGHT = "upright"
    ROT90 = "rot90"
    ROT180 = "rot180"
    ROT270 = "rot270"
    MIRROR = "mirror"
    MIRROR_ROT90 = "mirror_rot90"
    MIRROR_ROT180 = "mirror_rot180"
    MIRROR_ROT270 = "mirror_rot270"

    @property
    def mirrored(self) -> bool:
        return self.value.startswith("mirror")

    @property
    def turns(self) -> int:
        """Quarter turns anticlockwise (after the mirror, when mirrored)."""
        return {"rot90": 1, "rot180": 2, "rot270": 3}.get(self.value.removeprefix("mirror_"), 0)


ALL_ORIENTATIONS: tuple[Orientation, ...] = tuple(Orientation)


def embedding_bytes(vector: np.ndarray) -> bytes:
    """A vector's stored form: L2-normalised ``float32`` little-endian."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape != (EMBED_DIM,) or not np.all(np.isfinite(v)):
        raise SignalError(f"A face embedding is {EMBED_DIM} finite numbers.", code="invalid_signal")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise SignalError("A face embedding cannot be all zeros.", code="invalid_signal")
    return (v / norm).astype(_LE).tobytes()


def embedding_vector(value: bytes) -> np.ndarray:
    """The ``float32`` vector of a stored embedding (length checked, never echoed)."""
    if len(value) != EMBED_BYTES:
        raise SignalError(
            f"A face embedding is {EMBED_BYTES} bytes; got {len(value)}.", code="invalid_signal"
        )
    return np.frombuffer(value, dtype=_LE).astype(np.float32)


def similarity(a: bytes | np.ndarray, b: bytes | np.ndarray) -> float:
    """Cosine similarity of two embeddings (1 = same direction; unrelated faces sit near 0)."""
    va = embedding_vector(a) if isinstance(a, bytes) else np.asarray(a, dtype=np.float32).reshape(-1)
    vb = embedding_vector(b) if isinstance(b, bytes) else np.asarray(b, dtype=np.float32).reshape(-1)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(va, vb) / (na * nb))


@dataclass(frozen=True, slots=True)
class Face:
    """One face, in the decoded (upright per EXIF) image's pixel coordinates.

    ``box`` is ``(x, y, w, h)`` clipped to the image; ``landmarks`` YuNet's five points mapped back
    (in a mirrored orientation the eyes' labels are the mirror's); ``size`` the box's short side in
    pixels; ``sharpness`` the aligned crop's variance of the Laplacian; ``yaw`` the nose's offset
    along the eye line per eye distance. ``embedding`` is never in the ``repr``.
    """

    box: tuple[int, int, int, int]
    landmarks: tuple[tuple[float, float], ...]
    score: float
    size: int
    warnings: tuple[FaceWarning, ...]
    orientation: Orientation
    sharpness: float
    yaw: float
    embedding: bytes = field(repr=False)

    @property
    def quality(self) -> int:
        """The detector's score as 0-100 (what ``SignalValue.quality`` carries)."""
        return round(self.score * 100)

    def signal(self) -> SignalValue:
        return SignalValue(FaceSignal.name, self.embedding, self.quality)

    def to_record(self) -> dict[str, Any]:
        """What may be shown or stored beside the template: everything but the embedding."""
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "size": self.size,
            "warnings": [w.value for w in self.warnings],
            "orientation": self.orientation.value,
        }


@dataclass(frozen=True, slots=True)
class FaceResult:
    """Every face found in one image, and how they were found."""

    faces: tuple[Face, ...]
    width: int
    height: int
    #: the orientation the faces were found in (``None``: none found in any tried)
    orientation: Orientation | None
    padded: bool
    #: detector runs it took
    attempts: int
    model: str


@dataclass(frozen=True, slots=True)
class FaceOptions:
    """How hard to look. ``orientations``: tried in order while nothing is found; ``pad``: also
    try each framed in a border (a face that fills the frame)."""

    orientations: tuple[Orientation, ...] = ALL_ORIENTATIONS
    pad: bool = True
    long_side: int = DETECT_LONG_SIDE
    #: detect on the full-resolution image instead (for the benchmark's comparison)
    full_resolution: bool = False


def _orient(a: np.ndarray, o: Orientation) -> np.ndarray:
    b = a[:, ::-1] if o.mirrored else a
    return np.rot90(b, o.turns) if o.turns else b


def _to_original(o: Orientation, w: int, h: int, pts: np.ndarray) -> np.ndarray:
    """Points (N, 2) of the image turned by ``o`` back to the original ``w`` x ``h`` image."""
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    # the turned image's size before each quarter turn is undone: turns alternate w/h
    for i in range(o.turns):
        # one anticlockwise quarter turn of an image (cw, ch) maps (x, y) -> (y, cw - x); undo it
        cw = w if (o.turns - 1 - i) % 2 == 0 else h
        x, y = cw - y, x
    if o.mirrored:
        x = w - x
    return np.stack([x, y], axis=1)


def _detect_scale(w: int, h: int, options: FaceOptions) -> float:
    if options.full_resolution:
        return 1.0
    s = min(1.0, options.long_side / max(w, h))
    if min(w, h) * s < DETECT_MIN_SHORT_SIDE:
        # raised only as far as YuNet needs: a small image raised to 640 px makes its face too big
        s = min(DETECT_MIN_SHORT_SIDE / min(w, h), max(DETECT_MAX_SIDE / max(w, h), s))
    return s


def _rgb(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise SignalError("Face detection needs 8-bit pixels.", code="invalid_signal")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 4:
        return a[:, :, :3]
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise SignalError("Face detection needs an (H, W) or (H, W, 3) image.", code="invalid_signal")
    return a


def _yaw(det: Detection) -> tuple[float, float]:
    """(nose offset along the eye line / eye distance, eye distance / box width)."""
    p = np.asarray(det.landmarks, dtype=np.float64)
    eye_r, eye_l, nose = p[0], p[1], p[2]
    v = eye_l - eye_r
    d = float(np.linalg.norm(v))
    if d < 1e-6:
        return math.inf, 0.0
    along = float(np.dot(nose - (eye_r + eye_l) / 2, v)) / (d * d)
    return along, d / max(det.box[2], 1e-6)


def _warnings(size: int, sharpness: float, yaw: float, eyes: float, score: float) -> tuple[FaceWarning, ...]:
    out: list[FaceWarning] = []
    if size < TINY_BELOW:
        out.append(FaceWarning.TINY)
    if sharpness < BLUR_BELOW:
        out.append(FaceWarning.BLURRED)
    if abs(yaw) > PROFILE_YAW or eyes < PROFILE_EYES:
        out.append(FaceWarning.PROFILE)
    if score < OCCLUDED_BELOW:
        out.append(FaceWarning.OCCLUDED)
    return tuple(out)


def _find(
    model: FaceModel, small: np.ndarray, options: FaceOptions
) -> tuple[Orientation | None, bool, int, list[Detection], float, float]:
    """The orientation (and whether framed) whose faces score best in ``small`` (BGR), the
    detections, and how to map their points back to the turned ``small``: ``p / zoom - pad``.

    YuNet finds upside-down and sideways faces too (landmarks drawn as if upright, scores 0.70-0.91
    on ORL turned, against 0.91-0.95 upright), so a face under ``SURE_SCORE`` does not settle the
    orientation: the others are tried and the best top score wins (the earlier one on a tie).
    """
    import cv2

    attempts = 0
    best: tuple[Orientation | None, bool, int, list[Detection], float, float] | None = None
    for o in options.orientations:
        turned = np.ascontiguousarray(_orient(small, o))
        attempts += 1
        found, zoom, pad, framed_used = model.detect(turned), 1.0, 0.0, False
        if not found and options.pad:
            th, tw = turned.shape[:2]
            border = max(1, round(PAD_SHARE * max(th, tw)))
            fill = [float(c) for c in turned.reshape(-1, 3).mean(axis=0)]
            framed = cv2.copyMakeBorder(
                turned, border, border, border, border, cv2.BORDER_CONSTANT, value=fill
            )
            z = min(1.0, PAD_LONG_SIDE / max(framed.shape[:2]))
            if z < 1.0:
                size = (max(1, round(framed.shape[1] * z)), max(1, round(framed.shape[0] * z)))
                framed = cv2.resize(framed, size, interpolation=cv2.INTER_AREA)
            attempts += 1
            found = model.detect(framed)
            zoom, pad, framed_used = framed.shape[1] / (tw + 2 * border), float(border), True
        if not found:
            continue
        if found[0].score >= SURE_SCORE:
            return o, framed_used, attempts, found, zoom, pad
        if best is None or found[0].score > best[3][0].score:
            best = (o, framed_used, attempts, found, zoom, pad)
    if best is None:
        return None, False, attempts, [], 1.0, 0.0
    return best[0], best[1], attempts, best[3], best[4], best[5]


def faces_in_pixels(
    pixels: np.ndarray, *, model: FaceModel | None = None, options: FaceOptions | None = None
) -> FaceResult:
    """Every face in decoded pixels (``uint8`` RGB (H, W, 3), or grey (H, W)), upright as decoded."""
    import cv2

    opts = options or FaceOptions()
    fm = model or get_face_model()
    rgb = _rgb(pixels)
    h, w = rgb.shape[:2]
    if min(w, h) < 2:
        return FaceResult((), w, h, None, False, 0, fm.name)
    s = _detect_scale(w, h, opts)
    if s == 1.0:
        small = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    else:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        small = cv2.cvtColor(
            cv2.resize(np.ascontiguousarray(rgb), size, interpolation=interp), cv2.COLOR_RGB2BGR
        )
    sy, sx = small.shape[0] / h, small.shape[1] / w
    orientation, padded, attempts, found, zoom, pad = _find(fm, small, opts)
    if orientation is None:
        return FaceResult((), w, h, None, False, attempts, fm.name)
    full = rgb if orientation is Orientation.UPRIGHT else np.ascontiguousarray(_orient(rgb, orientation))
    full = np.ascontiguousarray(full)
    # in a quarter-turned image the axes swap, so do the scale factors
    fx, fy = (sy, sx) if orientation.turns % 2 else (sx, sy)
    faces = []
    for d in found:
        bx, by, bw, bh = (v / zoom for v in d.box)
        box = ((bx - pad) / fx, (by - pad) / fy, bw / fx, bh / fy)
        lms = tuple(((x / zoom - pad) / fx, (y / zoom - pad) / fy) for x, y in d.landmarks)
        det = Detection(box=box, landmarks=lms, score=d.score)
        crop_rgb = fm.aligned(full, det)
        crop = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR)
        vec = fm.embed_aligned(crop)
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        sharp = float(cv2.Laplacian(grey, cv2.CV_64F).var())
        yaw, eyes = _yaw(det)
        corners = np.array([[box[0], box[1]], [box[0] + box[2], box[1] + box[3]]])
        back = _to_original(orientation, w, h, corners)
        x0, y0 = np.clip(back.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(back.max(axis=0), 0, [w, h])
        ob = (round(x0), round(y0), max(0, round(x1 - x0)), max(0, round(y1 - y0)))
        size = round(min(bw / fx, bh / fy))
        marks = _to_original(orientation, w, h, np.asarray(lms, dtype=np.float64))
        faces.append(
            Face(
                box=ob,
                landmarks=tuple((round(float(x), 1), round(float(y), 1)) for x, y in marks),
                score=d.score,
                size=size,
                warnings=_warnings(size, sharp, yaw, eyes, d.score),
                orientation=orientation,
                sharpness=round(sharp, 1),
                yaw=round(yaw, 3),
                embedding=embedding_bytes(vec),
            )
        )
    return FaceResult(tuple(faces), w, h, orientation, padded, attempts, fm.name)


def faces_in_image(
    data: bytes,
    *,
    limits: Limits,
    media_type: MediaType | None = None,
    model: FaceModel | None = None,
    options: FaceOptions | None = None,
) -> FaceResult:
    """Every face in an image file's bytes, through the one safe decoder (its pixel limit refuses
    a decompression bomb with ``MediaError`` before any pixel is decoded)."""
    decoded = decode_image(data, limits=limits, want="rgb", media_type=media_type)
    return faces_in_pixels(decoded.pixels, model=model, options=options)


class FaceSignal(SignalType):
    """A face embedding (SFace, 128-d). Personal: never banked, never sent to a platform unasked.

    ``distance`` is the cosine distance in thousandths (``round((1 - cosine) * 1000)``, 0..2000) so
    the integer contract of :class:`SignalType` holds; callers that judge faces use
    :func:`similarity` and a calibrated threshold. ``default_threshold`` is OpenCV's published
    0.363 until calibration replaces it (``docs/FACES.md``).
    """

    name = "face"
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PHOTO})
    index_kind = IndexKind.COSINE
    default_threshold = round((1 - OPENCV_COSINE_THRESHOLD) * 1000)
    size = EMBED_BYTES
    examples = ("0000803f" + "00" * (EMBED_BYTES - 4),)
    has_quality = True
    low_quality_below = round(OCCLUDED_BELOW * 100)
    personal: ClassVar[bool] = True

    def validate(self, value: str, *, field: str | None = None) -> bytes:
        raw = super().validate(value, field=field)
        return embedding_bytes(embedding_vector(raw))

    def distance(self, a: bytes, b: bytes) -> int:
        return round((1.0 - similarity(a, b)) * 1000)


def faces_signals(result: FaceResult) -> Sequence[SignalValue]:
    """The faces' signal values, best score first."""
    return [f.signal() for f in result.faces]
