"""NudeNet through our onnxruntime wrapper: same answers as NudeDetector, batchable, thread-safe, offline."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from takeback.analysis.nudity import EXPOSED, LABELS, NudityDetector, default_detector
from takeback.media import MediaError
from tests.conftest import encode, synthetic_photo


@pytest.fixture(scope="module")
def detector() -> NudityDetector:
    return NudityDetector()


def benign_synthetic() -> list[np.ndarray]:
    flat = np.full((300, 500, 3), 200, np.uint8)
    grad = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[::20] = (30, 120, 220)
    return [flat, grad, stripes]


def benign_photos(shared_data: Path) -> list[Path]:
    pdq = shared_data / "pdq"
    return [
        *sorted((pdq / "reg-test-input" / "labelme-subset").glob("*.jpg")),
        pdq / "bridge-mods" / "aaa-orig.jpg",
        pdq / "reg-test-input" / "pen-and-coaster.png",
    ]


def test_model_ships_inside_the_package_and_labels_match() -> None:
    assert resources.files("nudenet").joinpath("320n.onnx").is_file()
    import nudenet.nudenet as upstream

    assert list(LABELS) == upstream.__labels  # type: ignore[attr-defined]


def test_benign_images_have_no_exposed_labels(detector: NudityDetector, shared_data: Path) -> None:
    results = detector.detect_pixels(benign_synthetic())
    results += [detector.detect_bytes(p.read_bytes()) for p in benign_photos(shared_data)]
    for r in results:
        assert not [d for d in r.detections if d.label in EXPOSED]
        assert r.score == 0.0 and not r.explicit


def test_agrees_with_nudenets_own_detector(detector: NudityDetector, shared_data: Path) -> None:
    """Same labels, scores and boxes as NudeDetector on the same pixels (it reads BGR, we decode RGB)."""
    from nudenet import NudeDetector

    reference = NudeDetector()
    images = [synthetic_photo(640, 480, seed=s) for s in range(6)] + benign_synthetic()
    from takeback.media import Limits, decode_image

    images += [
        decode_image(p.read_bytes(), limits=Limits(), want="rgb").pixels for p in benign_photos(shared_data)
    ]
    total = 0
    for rgb, ours in zip(images, detector.detect_pixels(images), strict=True):
        theirs = reference.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        assert [(d.label, d.box) for d in ours.detections] == [(d["class"], d["box"]) for d in theirs]
        assert [d.score for d in ours.detections] == pytest.approx([d["score"] for d in theirs], abs=1e-5)
        total += len(theirs)
    assert total > 0  # the set exercises real detections (faces in a street photo, a low-score false alarm)


def test_faces_are_found_in_a_street_photo(detector: NudityDetector, shared_data: Path) -> None:
    photo = shared_data / "pdq" / "reg-test-input" / "labelme-subset" / "q0291.jpg"
    labels = {d.label for d in detector.detect_bytes(photo.read_bytes()).detections}
    assert "FACE_MALE" in labels


def test_batches_give_the_same_results_as_single_images(detector: NudityDetector) -> None:
    images = [synthetic_photo(320 + 40 * i, 240 + 30 * i, seed=i) for i in range(5)]
    batched = detector.detect_pixels(images, batch_size=4)
    single = [detector.detect_pixels([img])[0] for img in images]
    for a, b in zip(batched, single, strict=True):
        assert [d.label for d in a.detections] == [d.label for d in b.detections]
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_thread_safe_with_one_shared_session() -> None:
    det = NudityDetector()
    images = [synthetic_photo(400, 300, seed=s) for s in range(8)]
    expected = [r.model_dump() for r in det.detect_pixels(images)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda img: det.detect_pixels([img])[0].model_dump(), images))
    assert [[d["label"] for d in g["detections"]] for g in got] == [
        [d["label"] for d in e["detections"]] for e in expected
    ]
    assert default_detector() is default_detector()


def test_bad_bytes_raise_a_media_error(detector: NudityDetector) -> None:
    with pytest.raises(MediaError):
        detector.detect_bytes(b"not an image")
    assert detector.detect_bytes(encode(synthetic_photo(200, 100), "JPEG")).model == "nudenet 320n"
