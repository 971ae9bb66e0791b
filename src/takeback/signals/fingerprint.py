"""The one hashing entry point: a file (or an upload's bytes) in, a :class:`Fingerprint` out.

Reads each file once: the bytes feed SHA-256 and MD5 while they stream past, and images are then
decoded from memory (never twice from disk). Videos are too large to hold: they are streamed for the
cryptographic hashes, then decoded from the path (:mod:`takeback.signals.vpdq`). Expected failures
become an ``error`` on the record instead of an exception, so one bad file never stops a batch.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from takeback.media import HEAD_BYTES, Limits, MediaError, MediaType, decode_image, sniff
from takeback.media import errors as codes
from takeback.media.borders import find_border
from takeback.media.types import Kind
from takeback.media.video import VideoLimits
from takeback.media.walk import display_path, open_regular
from takeback.signals import REGISTRY, PdqSignal, SignalValue, VpdqSignal
from takeback.signals.vpdq import DEFAULT_INTERVAL, VpdqOptions, VpdqResult, pack_result, vpdq_from_video

if TYPE_CHECKING:
    from takeback.config import Settings

_CHUNK = 1 << 20
#: the types computed from decoded pixels and frames (streaming types come from the registry)
_PDQ, _VPDQ = PdqSignal(), VpdqSignal()


@dataclass(frozen=True, slots=True)
class FingerprintOptions:
    """What to compute beyond the always-on SHA-256, MD5 and PDQ."""

    dihedral: bool = False
    limits: Limits = field(default_factory=Limits)
    #: video sampling and limits (``interval`` 0 hashes every distinct frame, as banks store)
    video: VpdqOptions = field(default_factory=VpdqOptions)
    #: also hash the content inside a uniform border (letterbox, plain frame) when one is found
    borders: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, *, for_bank: bool = False, dihedral: bool = False
    ) -> FingerprintOptions:
        """Options with the configured image and video limits. ``for_bank``: hash every distinct
        video frame, as banks store videos (so trimmed copies and clips sampled at any moment find
        their frames); otherwise about one frame a second plus scene cuts, as queries do."""
        video = VpdqOptions(
            interval=0.0 if for_bank else DEFAULT_INTERVAL, limits=VideoLimits.from_settings(settings)
        )
        return cls(dihedral=dihedral, limits=Limits.from_settings(settings), video=video)


@dataclass(slots=True)
class Fingerprint:
    """Everything computed for one file. ``error`` is ``{code, message}`` when something failed.

    ``signals`` holds ``{signal type: SignalValue}``, values as bytes (PDQ's orientations as its
    variants when asked for), in the order they were computed; ``inside_border`` the same for the
    content inside a uniform border, when one was found. Hex appears only in :meth:`to_record`.
    """

    path: str
    size: int | None = None
    media_type: str | None = None
    signals: dict[str, SignalValue] = field(default_factory=dict)
    inside_border: dict[str, SignalValue] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    #: [top, bottom, left, right] of the content inside a uniform border, when one was found
    border: list[int] | None = None
    #: videos and animations: the vPDQ frame lines (``frame,quality,hash,timestamp``), and the same
    #: frames hashed inside the border when the video has one
    vpdq_frames: list[str] | None = None
    vpdq_cropped_frames: list[str] | None = None
    duration_s: float | None = None
    frame_count: int | None = None
    #: why a video's frames cover less than the whole file (``{code, message}``); hashes are kept
    partial: dict[str, str] | None = None
    #: the full vPDQ result, for callers that index it (not part of the record)
    vpdq: VpdqResult | None = None
    error: dict[str, str] | None = None
    #: what the caller's ``analyse`` function (``batch.fingerprint_paths``) found, computed in the
    #: worker beside the hashes (not part of the record)
    analysis: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, exc: MediaError) -> Fingerprint:
        self.error = exc.to_dict()
        return self

    def hex(self, signal_type: str) -> str | None:
        """A signal's value as lowercase hex (an edge: records, files), or ``None`` if not computed."""
        sv = self.signals.get(signal_type)
        return None if sv is None else sv.value.hex()

    def quality(self, signal_type: str) -> int | None:
        sv = self.signals.get(signal_type)
        return None if sv is None else sv.quality

    def values(self) -> list[SignalValue]:
        """Every computed signal, in the registry's order (the order records and exports use)."""
        return [self.signals[n] for n in REGISTRY if n in self.signals]

    def to_record(self, *, dihedral: bool = False) -> dict[str, Any]:
        """The public record: exactly the documented fields, in order (a registered type beyond the
        built-in ones adds its value, in its own text form, after ``pdq_quality``)."""
        pdq = self.signals.get("pdq")
        rec: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "media_type": self.media_type,
            "sha256": self.hex("sha256"),
            "md5": self.hex("md5"),
            "pdq": None if pdq is None else pdq.value.hex(),
            "pdq_quality": None if pdq is None else pdq.quality,
        }
        for name, sv in self.signals.items():
            if name not in _RECORDED:
                rec[name] = REGISTRY[name].format(sv.value) if name in REGISTRY else sv.value.hex()
        if dihedral:
            variants = pdq.variants if pdq is not None else ()
            rec["pdq_dihedral"] = [v.hex() for v in variants] if variants else None
        inner = self.inside_border.get("pdq")
        if inner is not None:
            rec.update(pdq_cropped=inner.value.hex(), pdq_cropped_quality=inner.quality)
        if self.vpdq_frames is not None:
            rec.update(vpdq_frames=self.vpdq_frames, duration_s=self.duration_s, frame_count=self.frame_count)
            if self.vpdq_cropped_frames:
                rec["vpdq_cropped_frames"] = self.vpdq_cropped_frames
        if self.border is not None:
            rec["border"] = self.border
        if self.partial is not None:
            rec["partial"] = self.partial
        rec["error"] = self.error
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Fingerprint:
        """A fingerprint back from its record (or a stored row with the same fields): the hashes,
        PDQ's quality and orientations (a list, or one space-separated text), and every other
        registered type's value. Values are read with each type's ``validate``."""
        fp = cls(path=str(rec.get("path") or ""), size=rec.get("size"), media_type=rec.get("media_type"))
        for t in REGISTRY.values():
            text = rec.get(t.name)
            if not text or t.bag_of_frames:
                continue
            quality = rec.get(f"{t.name}_quality") if t.has_quality else None
            variants: tuple[bytes, ...] = ()
            if t.variants_field:
                listed = rec.get(t.variants_field)
                parts = listed.split() if isinstance(listed, str) else listed
                if parts:
                    variants = tuple(t.validate(v) for v in parts)
            fp.signals[t.name] = SignalValue(t.name, t.validate(text), quality, variants)
        fp.error = rec.get("error")
        return fp


#: the types whose fields :meth:`Fingerprint.to_record` writes by their documented names
_RECORDED = frozenset({"sha256", "md5", "pdq", "vpdq"})


def _os_error(exc: OSError, what: str) -> MediaError:
    if exc.errno == errno.ENOENT:
        return MediaError(f"No such file: {what}.", code=codes.NOT_FOUND)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return MediaError(f"Permission denied reading {what}.", code=codes.PERMISSION_DENIED)
    if exc.errno == errno.ELOOP:
        return MediaError(f"Symbolic link loop at {what}.", code=codes.SYMLINK_LOOP)
    if exc.errno == errno.EISDIR:
        return MediaError(f"{what} is a directory.", code=codes.NOT_A_FILE)
    return MediaError(f"Could not read {what}: {exc.strerror or exc}.", code=codes.READ_ERROR)


def _digests(fp: Fingerprint, chunks: Iterable[bytes]) -> int:
    """Every streaming type's value (``SignalType.hasher``: SHA-256, MD5, ...) in one pass over
    ``chunks``; returns the byte count."""
    hashers = [(t.name, h) for t in REGISTRY.values() if (h := t.hasher()) is not None]
    size = 0
    for chunk in chunks:
        size += len(chunk)
        for _, h in hashers:
            h.update(chunk)
    for name, h in hashers:
        fp.signals[name] = SignalValue(name, h.digest())
    return size


def _apply_image(fp: Fingerprint, data: bytes, mt: MediaType, options: FingerprintOptions) -> None:
    decoded = decode_image(data, limits=options.limits, want="luma", media_type=mt)
    fp.signals[_PDQ.name] = _PDQ.from_luma(decoded.pixels, variants=options.dihedral)
    fp.width, fp.height = decoded.width, decoded.height
    if options.borders:
        box = find_border(decoded.pixels)
        if box is not None:
            fp.inside_border[_PDQ.name] = _PDQ.from_luma(box.crop(decoded.pixels))
            fp.border = box.to_list()
    if decoded.frame_count > 1 and mt.mime in ("image/gif", "image/webp"):
        # An animation: its frames are a video (every frame: animations are short and deliberate).
        video_opts = replace(options.video, interval=0.0)
        try:
            _apply_video(fp, data, mt, replace(options, video=video_opts))
        except MediaError as exc:  # the first frame hashed; the animation did not
            fp.partial = exc.to_dict()


def _apply_video(
    fp: Fingerprint, source: bytes | str | os.PathLike[str], mt: MediaType, options: FingerprintOptions
) -> None:
    opts = options.video if options.borders else replace(options.video, borders=False)
    result = vpdq_from_video(source, media_type=mt, options=opts)
    fp.vpdq = result
    if result.frames:
        fp.signals[_VPDQ.name] = SignalValue(_VPDQ.name, pack_result(result))
    fp.vpdq_frames = [f.to_text() for f in result.frames]
    fp.vpdq_cropped_frames = [f.to_text() for f in result.cropped] if result.cropped else None
    if result.border is not None and fp.border is None:
        fp.border = result.border.to_list()
    fp.duration_s, fp.frame_count = result.duration_s, result.frame_count
    if fp.width is None:
        fp.width, fp.height = result.width, result.height
    if result.partial is not None:
        fp.partial = result.partial.to_dict()


def _non_image_error(mt: MediaType) -> MediaError | None:
    if mt.kind is Kind.IMAGE or mt.kind is Kind.VIDEO:
        return None
    label = {
        Kind.DOCUMENT: "a document",
        Kind.ARCHIVE: "an archive",
        Kind.TEXT: "a text file",
    }.get(mt.kind, "not a recognised image or video")
    return MediaError(
        f"Not an image or video ({mt.mime}: {label}); only SHA-256 and MD5 were computed.",
        code=codes.UNSUPPORTED_TYPE,
    )


def fingerprint_bytes(
    data: bytes, *, name: str = "<upload>", options: FingerprintOptions | None = None
) -> Fingerprint:
    """Fingerprint content already in memory (an upload, an archive member)."""
    opts = options or FingerprintOptions()
    fp = Fingerprint(path=name, size=len(data))
    mt = sniff(data[:HEAD_BYTES])
    fp.media_type = mt.mime
    _digests(fp, (data,))
    if not data:
        return fp.fail(MediaError("The file is empty (0 bytes).", code=codes.EMPTY_FILE))
    problem = _non_image_error(mt)
    if problem is not None:
        return fp.fail(problem)
    try:
        if mt.is_image:
            _apply_image(fp, data, mt, opts)
        elif mt.is_video:
            _apply_video(fp, data, mt, opts)
    except MediaError as exc:
        fp.fail(exc)
    return fp


def fingerprint_file(
    path: str | os.PathLike[str], *, options: FingerprintOptions | None = None
) -> Fingerprint:
    """Fingerprint one file on disk. Never raises for a bad file: the record carries the error."""
    opts = options or FingerprintOptions()
    shown = display_path(path)
    fp = Fingerprint(path=shown)
    try:
        st = os.stat(path)
    except OSError as exc:
        return fp.fail(_os_error(exc, shown))
    if stat.S_ISDIR(st.st_mode):
        return fp.fail(MediaError(f"{shown} is a directory.", code=codes.NOT_A_FILE))
    if not stat.S_ISREG(st.st_mode):
        return fp.fail(
            MediaError(f"{shown} is not a regular file (device, pipe or socket).", code=codes.NOT_A_FILE)
        )
    fp.size = st.st_size
    try:
        with open_regular(path) as fh:
            head = fh.read(HEAD_BYTES)
            mt = sniff(head)
            fp.media_type = mt.mime
            if mt.is_image and st.st_size <= opts.limits.max_file_bytes:
                data = head + fh.read()
                fp.size = _digests(fp, (data,))
            else:
                data = b""
                fp.size = _digests(fp, itertools.chain((head,), iter(lambda: fh.read(_CHUNK), b"")))
    except OSError as exc:
        return fp.fail(_os_error(exc, shown))
    if fp.size == 0:
        return fp.fail(MediaError("The file is empty (0 bytes).", code=codes.EMPTY_FILE))
    problem = _non_image_error(mt)
    if problem is not None:
        return fp.fail(problem)
    if mt.is_image:
        if not data:
            return fp.fail(
                MediaError(
                    f"The file is {fp.size:,} bytes, over the decode limit of "
                    f"{opts.limits.max_file_bytes:,} (TAKEBACK_MAX_FILE_BYTES); SHA-256 and MD5 were "
                    "computed, PDQ was not.",
                    code=codes.FILE_TOO_LARGE,
                )
            )
        try:
            _apply_image(fp, data, mt, opts)
        except MediaError as exc:
            fp.fail(exc)
    elif mt.is_video:
        try:
            _apply_video(fp, path, mt, opts)
        except MediaError as exc:
            fp.fail(exc)
    return fp
