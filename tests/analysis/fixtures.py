"""Fixture builders for the analysis tests: every file is made here, from synthetic pictures."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import struct
import zlib
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pywt
from PIL import Image, PngImagePlugin

from tests.conftest import synthetic_photo

A1111_TEXT = (
    "photo of Jane Example at the beach, detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567, Size: 512x768, "
    "Model hash: 6ce0161689, "
    'Model: v1-5-pruned-emaonly, Lora hashes: "detail: abc123, x: def", Version: v1.9.4'
)


def png_with_text(texts: dict[str, str], *, size: tuple[int, int] = (512, 512), itxt: bool = False) -> bytes:
    img = Image.fromarray(synthetic_photo(size[0], size[1], seed=7))
    info = PngImagePlugin.PngInfo()
    for k, v in texts.items():
        if itxt:
            info.add_itxt(k, v)
        else:
            info.add_text(k, v)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def insert_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    """Put chunks right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + b"".join(chunks) + png[33:]


def user_comment_unicode(text: str) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be")


def jpeg_with_exif(exif_tags: dict[int, object], *, ifd_tags: dict[int, object] | None = None) -> bytes:
    img = Image.fromarray(synthetic_photo(640, 480, seed=3))
    exif = Image.Exif()
    for k, v in exif_tags.items():
        exif[k] = v
    if ifd_tags:
        sub = exif.get_ifd(0x8769)
        for k, v in ifd_tags.items():
            sub[k] = v
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def dst_description(source_type: str) -> str:
    return (
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Test Tool 1.0">'
        f"<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"
        "</Iptc4xmpExt:DigitalSourceType></rdf:Description>"
    )


def jpeg_with_xmp(packet: bytes) -> bytes:
    img = Image.fromarray(synthetic_photo(640, 480, seed=4))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, xmp=packet)
    return buf.getvalue()


# --- NovelAI stealth payload -------------------------------------------------------------------


def embed_stealth(rgba: np.ndarray, payload: bytes, magic: bytes = b"stealth_pngcomp") -> np.ndarray:
    """Write magic + 32-bit bit-length + payload into alpha LSBs, column by column (NovelAI's order)."""
    out = rgba.copy()
    data = magic + struct.pack(">I", len(payload) * 8) + payload
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    h, w = out.shape[:2]
    assert bits.size <= h * w, "image too small for payload"
    alpha_t = np.ascontiguousarray(out[:, :, 3].T).reshape(-1)
    alpha_t[: bits.size] = (alpha_t[: bits.size] & 0xFE) | bits
    out[:, :, 3] = alpha_t.reshape(w, h).T
    return out


def novelai_fields(prompt: str = "portrait of Jane Example") -> dict[str, str]:
    comment = {
        "prompt": prompt,
        "steps": 28,
        "height": 1216,
        "width": 832,
        "scale": 5.0,
        "seed": 2718281828,
        "sampler": "k_euler_ancestral",
        "uc": "lowres, bad anatomy",
        "signed_hash": "c2lnbmVk",
    }
    return {
        "Title": "AI generated image",
        "Description": prompt,
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Generation time": "3.2",
        "Comment": json.dumps(comment),
    }


def stealth_png(
    payload: bytes, magic: bytes = b"stealth_pngcomp", size: tuple[int, int] = (416, 608)
) -> bytes:
    rgb = synthetic_photo(size[0], size[1], seed=11)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    marked = embed_stealth(rgba, payload, magic)
    buf = io.BytesIO()
    Image.fromarray(marked, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def novelai_stealth_png() -> bytes:
    return stealth_png(gzip.compress(json.dumps(novelai_fields()).encode("utf-8")))


# --- dwtDct watermark: the published algorithm, for fixtures -----------------------------------------


def reference_maxdct() -> ModuleType | None:
    """``imwatermark/maxDct.py`` loaded by path (the package's __init__ imports torch)."""
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "maxDct.py"
    if not path.exists():
        return None
    mspec = importlib.util.spec_from_file_location("_tb_test_imwatermark_maxdct", path)
    assert mspec is not None and mspec.loader is not None
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


def embed_dwtdct(bgr: np.ndarray, bits: tuple[int, ...], scale: float = 36.0) -> np.ndarray:
    """Our own transcription of imwatermark's EmbedMaxDct.encode (channel U only, scales [0, 36, 36]).

    Mirrors its quirks on purpose: no DCT in the block step, the detail bands handed back to idwt2 in
    (v, h, d) order, and float results assigned into the uint8 YUV array (truncation).
    """
    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ca, (h1, v1, d1) = pywt.dwt2(yuv[: rows // 4 * 4, : cols // 4 * 4, 1], "haar")
    n = 0
    for i in range(ca.shape[0] // 4):
        for j in range(ca.shape[1] // 4):
            block = ca[i * 4 : i * 4 + 4, j * 4 : j * 4 + 4]
            pos = int(np.argmax(np.abs(block.flatten()[1:]))) + 1
            r, c = pos // 4, pos % 4
            bit = bits[n % len(bits)]
            val = block[r, c]
            mag = (abs(val) // scale + 0.25 + 0.5 * bit) * scale
            block[r, c] = mag if val >= 0 else -mag
            n += 1
    yuv[: rows // 4 * 4, : cols // 4 * 4, 1] = pywt.idwt2((ca, (v1, h1, d1)), "haar")
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def watermarked_png(bits: tuple[int, ...], size: tuple[int, int] = (512, 512), seed: int = 5) -> bytes:
    rgb = synthetic_photo(size[0], size[1], seed=seed)
    bgr = embed_dwtdct(np.ascontiguousarray(rgb[:, :, ::-1]), bits)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(buf, "PNG")
    return buf.getvalue()
