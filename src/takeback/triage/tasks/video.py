"""The video task: vPDQ frame hashes (:mod:`takeback.triage.video`). A video in memory was decoded
once already, by the fingerprint task (``fingerprint_bytes`` hashes vPDQ): its result is reused. A
video too large to hold is decoded from its file."""

from __future__ import annotations

import os

from takeback.triage import errors as codes
from takeback.triage import video
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content

_NO_FRAMES = {"code": codes.ANALYSIS_FAILED, "message": "Video hashing failed: no result."}


class VideoTask:
    name = "video"

    def __init__(self, *, enabled: bool) -> None:
        #: ``--no-video``: nothing of the decode is recorded (its error neither)
        self.enabled = enabled

    def applies(self, content: Content) -> bool:
        if not content.media_type.is_video:
            return False
        return content.data is not None or (content.path is not None and self.enabled)

    def run(self, content: Content, result: ItemResult) -> bool:
        if content.data is not None:
            # the fingerprint task's error for a video is its vPDQ's: recorded only with videos on
            error, result.error = result.error, None
            if not self.enabled:
                return False
            fp = content.fingerprint
            if fp is not None and fp.vpdq is not None:
                vp = video.print_of(fp.vpdq)
            else:
                vp = video.failed(error or _NO_FRAMES)
        else:
            vp = video.fingerprint_video(os.fsdecode(content.path or b""), media_type=content.media_type)
        if vp.error:
            result.error = vp.error
            return False
        result.vpdq, result.vpdq_frames, result.duration_ms = vp.packed, vp.frames, vp.duration_ms
        result.width, result.height = vp.width, vp.height
        if vp.partial:
            result.warnings.append(vp.partial)
        return False
