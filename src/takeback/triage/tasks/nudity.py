"""The nudity task: NudeNet's score of an image that decoded (:mod:`takeback.analysis.nudity`), to
order review; a failure is a warning, the item's other results stand."""

from __future__ import annotations

from takeback.media import Limits, MediaError, decode_image
from takeback.triage import errors as codes
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content


class NudityTask:
    name = "nudity"

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def applies(self, content: Content) -> bool:
        fp = content.fingerprint
        return content.media_type.is_image and fp is not None and "pdq" in fp.signals

    def run(self, content: Content, result: ItemResult) -> bool:
        from takeback.analysis.nudity import default_detector

        try:
            rgb = decode_image(content.data or b"", limits=self.limits, want="rgb").pixels
            scored = default_detector().detect_pixels([rgb])[0]
        except MediaError as exc:
            result.warnings.append(exc.to_dict())
            return False
        except Exception as exc:
            result.warnings.append(
                {"code": codes.ANALYSIS_FAILED, "message": f"Nudity scoring failed: {type(exc).__name__}."}
            )
            return False
        result.nudity, result.explicit = round(float(scored.score), 4), scored.explicit
        return False
