"""The EXIF task: camera fields and creation traces (XMP document ids, capture keys) of an image,
which the grouping steps use to tell a camera original from what was made of it."""

from __future__ import annotations

from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content


class ExifTask:
    name = "exif"

    def applies(self, content: Content) -> bool:
        return content.data is not None and content.media_type.is_image

    def run(self, content: Content, result: ItemResult) -> bool:
        from takeback.analysis.provenance.containers import walk
        from takeback.triage.exif import camera_fields, creation_traces

        try:
            container = walk(content.data or b"")
            camera = camera_fields(container)
            result.exif, result.traces = camera, creation_traces(container, camera)
        except Exception:  # noqa: S110  (metadata problems are already findings of the provenance task)
            pass
        return False
