"""How long each kind of trace lives, in words a caseworker can repeat.

Measured where stated (``benchmarks/bench_provenance.py`` has the robustness table); the rest is
what the formats do by design.
"""

from __future__ import annotations

C2PA = (
    "Kept only by byte-exact copies and C2PA-aware editors: any re-encode (Pillow, messaging apps, most "
    "platforms) or metadata strip removes the manifest, and an edit after signing makes it read as "
    "tampered. Forging a valid one needs the signer's private key; its claims are only as trustworthy "
    "as the signer."
)
PNG_TEXT = (
    "PNG text chunks survive byte-exact copies and lossless edits that keep metadata; they are lost on "
    "any conversion to JPEG/WebP, a screenshot, or an upload to platforms that strip metadata. Anyone "
    "can write, edit or remove them with a few lines of code."
)
EXIF = (
    "EXIF survives copies and many editors, but most platforms and messaging apps strip it, and anyone "
    "can write or remove it."
)
XMP = (
    "XMP survives copies and editors that preserve metadata; most platforms strip it, and anyone can "
    "write or remove it."
)
STEALTH = (
    "Hidden in the lowest bit of the alpha channel: survives byte-exact copies and lossless re-saves "
    "that keep alpha; destroyed by JPEG/WebP, flattening or dropping alpha (screenshots), resizing and "
    "cropping. Any tool can write it."
)
WATERMARK = (
    "The open dwtDct mark survives lossless copies, PNG re-saves and a 4:4:4 JPEG at quality 95; it "
    "does not survive an ordinary 4:2:0 JPEG re-save even at quality 95, a half-size resize, a crop or "
    "a screenshot (measured), so a missing watermark means almost nothing. Anyone with the open code "
    "can embed it."
)
CONSISTENCY = (
    "A weak hint, not evidence on its own: ordinary editing and resizing produce the same facts, and "
    "they vanish or appear with any re-save."
)
CLASSIFIER = (
    "A statistical score: changes with re-compression, resizing and upscaling, and benchmark accuracy "
    "does not carry over to other sources. For ordering review only."
)
