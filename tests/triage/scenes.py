"""Synthetic scenes and their "derivatives", for grouping tests and benchmarks. Benign shapes only.

A scene is a room (gradients, furniture-like blocks, texture) with a figure made of ellipses. The
derivatives imitate what abusers do to a victim's photo, with no real imagery: a local repaint of the
torso (what "undressing" apps do), a swapped face, the figure pasted into another room, crops,
img2img-style global re-rendering, and plain re-encodes. ``write_case`` lays them out as on the
Hong Kong laptop: one folder per person, originals with camera EXIF beside AI-made images that carry
generator metadata.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, PngImagePlugin


@dataclass
class Scene:
    image: np.ndarray
    masks: dict[str, np.ndarray]
    geometry: tuple[int, int, int]  # centre x, centre y, size


def _room(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 200, 3)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = (
            base[c] + 40 * np.sin(x / rng.uniform(40, 200) + c) + 30 * np.cos(y / rng.uniform(40, 200))
        )
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 3)), y0 + int(rng.integers(h // 10, h // 3))
        cv2.rectangle(img, (x0, y0), (x1, y1), rng.uniform(0, 255, 3).tolist(), -1)
    tex = rng.normal(0, 10, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    img += cv2.resize(tex, (w, h), interpolation=cv2.INTER_CUBIC)
    return img


def _face(img: np.ndarray, rng: np.random.Generator, cx: int, cy: int, s: int) -> None:
    for dx in (-1, 1):
        r = max(2, int(0.02 * s * rng.uniform(0.7, 1.5)))
        cv2.circle(img, (cx + dx * int(0.05 * s), cy - int(0.53 * s)), r, rng.uniform(0, 80, 3).tolist(), -1)
    mouth = (int(0.05 * s * rng.uniform(0.6, 1.4)), max(1, int(0.015 * s)))
    cv2.ellipse(img, (cx, cy - int(0.44 * s)), mouth, 0, 0, 360, (120, 40, 40), -1)
    hair = rng.uniform(0, 120, 3).tolist()
    cv2.ellipse(img, (cx, cy - int(0.62 * s)), (int(0.14 * s), int(0.07 * s)), 0, 180, 360, hair, -1)


def _figure(img: np.ndarray, rng: np.random.Generator, cx: int, cy: int, s: int) -> dict[str, np.ndarray]:
    skin = (np.array([200, 160, 130], np.float32) * rng.uniform(0.7, 1.1)).tolist()
    cloth = rng.uniform(0, 255, 3).tolist()
    masks = {k: np.zeros(img.shape[:2], np.uint8) for k in ("person", "torso", "head")}

    def ell(
        center: tuple[int, int], axes: tuple[int, int], ang: int, color: list[float], *names: str
    ) -> None:
        cv2.ellipse(img, center, axes, ang, 0, 360, color, -1)
        for n in names:
            cv2.ellipse(masks[n], center, axes, ang, 0, 360, 255, -1)

    ell((cx, cy), (int(0.22 * s), int(0.35 * s)), 0, cloth, "person", "torso")
    for k in range(8):
        yk = cy - int(0.3 * s) + k * int(0.08 * s)
        cv2.line(
            img,
            (cx - int(0.18 * s), yk),
            (cx + int(0.18 * s), yk),
            rng.uniform(0, 255, 3).tolist(),
            max(2, s // 60),
        )
    for dx in (-1, 1):
        ell((cx + dx * int(0.3 * s), cy), (int(0.07 * s), int(0.3 * s)), dx * 15, skin, "person")
        ell((cx + dx * int(0.1 * s), cy + int(0.6 * s)), (int(0.08 * s), int(0.32 * s)), 0, skin, "person")
    ell((cx, cy - int(0.5 * s)), (int(0.12 * s), int(0.15 * s)), 0, skin, "person", "head")
    _face(img, rng, cx, cy, s)
    return masks


def _u8(img: np.ndarray, rng: np.random.Generator, noise: float = 4.0) -> np.ndarray:
    return np.clip(img + rng.normal(0, noise, img.shape).astype(np.float32), 0, 255).astype(np.uint8)


def scene(seed: int, w: int = 1632, h: int = 1224, room_seed: int | None = None) -> Scene:
    """A new picture; ``room_seed`` reuses a room (another photo taken in the same place)."""
    rng = np.random.default_rng(seed)
    img = _room(np.random.default_rng(room_seed) if room_seed is not None else rng, w, h)
    cx, cy, s = (
        int(w * rng.uniform(0.35, 0.65)),
        int(h * rng.uniform(0.5, 0.6)),
        int(h * rng.uniform(0.55, 0.7)),
    )
    masks = _figure(img, rng, cx, cy, s)
    return Scene(_u8(img, rng), masks, (cx, cy, s))


def _blend(base: np.ndarray, patch: np.ndarray, mask: np.ndarray, feather: float = 15) -> np.ndarray:
    m = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), feather)[..., None]
    return np.clip(base * (1 - m) + patch * m, 0, 255).astype(np.uint8)


def repaint_torso(sc: Scene, seed: int) -> np.ndarray:
    """A local inpaint over the clothed torso (what "undressing" apps do), soft-edged."""
    rng = np.random.default_rng(seed)
    skin = np.array([200, 160, 130], np.float32) * rng.uniform(0.7, 1.1)
    patch = np.empty(sc.image.shape, np.float32)
    patch[:] = skin
    patch += cv2.GaussianBlur(rng.normal(0, 25, sc.image.shape[:2]).astype(np.float32), (0, 0), 20)[..., None]
    mask = cv2.dilate(sc.masks["torso"], np.ones((25, 25), np.uint8))
    return _blend(sc.image.astype(np.float32), patch, mask)


def swap_face(sc: Scene, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cx, cy, s = sc.geometry
    patch = sc.image.astype(np.float32).copy()
    tone = (rng.uniform(150, 220), rng.uniform(120, 170), rng.uniform(100, 140))
    cv2.ellipse(patch, (cx, cy - int(0.5 * s)), (int(0.12 * s), int(0.15 * s)), 0, 0, 360, tone, -1)
    _face(patch, rng, cx, cy, s)
    return _blend(sc.image.astype(np.float32), patch, sc.masks["head"], 5)


def paste_figure(sc: Scene, seed: int) -> np.ndarray:
    """The figure cut out and pasted into another room (a "body" shared, background new)."""
    h, w = sc.image.shape[:2]
    return _blend(
        _room(np.random.default_rng(seed), w, h), sc.image.astype(np.float32), sc.masks["person"], 3
    )


def crop(sc: Scene, seed: int, frac: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = sc.image.shape[:2]
    cx, cy, _ = sc.geometry
    cw, ch = int(w * frac), int(h * frac)
    x0 = int(np.clip(cx - cw // 2 + rng.integers(-cw // 8, cw // 8), 0, w - cw))
    y0 = int(np.clip(cy - ch // 2 + rng.integers(-ch // 8, ch // 8), 0, h - ch))
    out = sc.image[y0 : y0 + ch, x0 : x0 + cw]
    size = (int(cw * rng.uniform(0.8, 1.3)), int(ch * rng.uniform(0.8, 1.3)))
    return cv2.resize(out, size, interpolation=cv2.INTER_AREA)


def rerender(sc: Scene, seed: int) -> np.ndarray:
    """img2img-like: the whole picture re-rendered (blur, low-frequency noise, colour shift)."""
    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(sc.image.astype(np.float32), (0, 0), 1.5)
    h, w = sc.image.shape[:2]
    f += cv2.resize(rng.normal(0, 18, (h // 16, w // 16, 3)).astype(np.float32), (w, h))
    f = f * rng.uniform(0.9, 1.1, 3) + rng.uniform(-10, 10, 3)
    return np.clip(f, 0, 255).astype(np.uint8)


def reencode(sc: Scene, scale: float = 0.5) -> np.ndarray:
    h, w = sc.image.shape[:2]
    return cv2.resize(sc.image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)


DERIVATIVES = {
    "reencode": lambda sc, seed: reencode(sc),
    "rerender": rerender,
    "face_swap": swap_face,
    "torso_repaint": repaint_torso,
    "figure_pasted": paste_figure,
    "crop_70": lambda sc, seed: crop(sc, seed, 0.7),
    "crop_50": lambda sc, seed: crop(sc, seed, 0.5),
}


def jpeg(
    img: np.ndarray, quality: int = 88, *, camera: tuple[str, str] | None = None, taken: str | None = None
) -> bytes:
    im = Image.fromarray(img)
    buf = io.BytesIO()
    if camera or taken:
        exif = Image.Exif()
        if camera:
            exif[0x010F], exif[0x0110] = camera
        if taken:
            exif.get_ifd(0x8769)[0x9003] = taken
        im.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    else:
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


A1111 = (
    "a photo of a person in a room\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
    "Seed: {seed}, Size: {w}x{h}, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    "Denoising strength: 0.55"
)


def ai_png(img: np.ndarray, seed: int) -> bytes:
    """A PNG carrying AUTOMATIC1111 generation parameters (tier-2 provenance)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111.format(seed=seed, w=img.shape[1], h=img.shape[0]))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def write_case(
    root: Path, *, people: int = 3, photos: int = 2, size: tuple[int, int] = (640, 480), seed: int = 0
) -> dict[str, list[Path]]:
    """Per-person folders: camera originals plus AI-made derivatives (torso repaint, face swap, crop).

    Returns {"originals": [...], "derived": [...]} paths; derived file names start with the original's.
    """
    w, h = size
    out: dict[str, list[Path]] = {"originals": [], "derived": []}
    for p in range(people):
        folder = root / f"person_{p:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(photos):
            n = seed + 1000 * p + k
            sc = scene(n, w, h)
            orig = folder / f"IMG_{p:02d}{k:02d}.jpg"
            taken = f"2024:05:{1 + k:02d} {10 + p % 12:02d}:{p // 12 % 60:02d}:00"
            orig.write_bytes(jpeg(sc.image, camera=("Canon", "EOS 80D"), taken=taken))
            out["originals"].append(orig)
            for kind, fn in (
                ("undress", repaint_torso),
                ("swap", swap_face),
                ("crop", lambda s_, x: crop(s_, x, 0.6)),
            ):
                d = folder / f"IMG_{p:02d}{k:02d}_{kind}.png"
                d.write_bytes(ai_png(fn(sc, n + 7), n))
                out["derived"].append(d)
    return out
