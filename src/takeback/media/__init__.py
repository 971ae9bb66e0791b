"""Safe media decoding: type detection by content, limits, EXIF orientation, every Pillow mode.

Nothing here knows about hashes; ``signals`` turns decoded pixels into fingerprints.
"""

from takeback.media.decode import DecodedImage, Limits, decode_image, decode_pil, open_image
from takeback.media.errors import MediaError
from takeback.media.types import HEAD_BYTES, Kind, MediaType, sniff

__all__ = [
    "HEAD_BYTES",
    "DecodedImage",
    "Kind",
    "Limits",
    "MediaError",
    "MediaType",
    "decode_image",
    "decode_pil",
    "open_image",
    "sniff",
]
