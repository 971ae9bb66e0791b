"""The fingerprint task: SHA-256, MD5, PDQ + the 8 dihedral hashes (the one hashing entry point,
:func:`takeback.signals.fingerprint.fingerprint_bytes`) plus SHA-1 for Project VIC and NSRL; of
content too large to hold, the digests computed while it streamed past."""

from __future__ import annotations

import hashlib

from takeback.media import Limits
from takeback.media import errors as media_codes
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content

#: Fingerprint errors that are not failures: the item is simply not an image (documents, text).
NOT_FAILURES = frozenset({media_codes.UNSUPPORTED_TYPE})


class FingerprintTask:
    name = "fingerprint"

    def __init__(self, limits: Limits) -> None:
        self.options = FingerprintOptions(dihedral=True, limits=limits)

    def applies(self, content: Content) -> bool:
        return True

    def run(self, content: Content, result: ItemResult) -> bool:
        result.kind = content.media_type.kind.value
        data = content.data
        if data is None:
            s = content.streamed
            if s is not None:
                result.size, result.sha256, result.md5, result.sha1 = s.size, s.sha256, s.md5, s.sha1
            result.media_type = content.media_type.mime
            return False
        fp = fingerprint_bytes(data, name=content.name, options=self.options)
        content.fingerprint = fp
        rec = fp.to_record(dihedral=True)  # case.db keeps the record's hex
        result.size, result.media_type, result.sha256, result.md5 = (
            fp.size,
            fp.media_type,
            rec["sha256"],
            rec["md5"],
        )
        result.sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        result.pdq, result.pdq_quality = rec["pdq"], rec["pdq_quality"]
        result.pdq_dihedral = " ".join(rec["pdq_dihedral"]) if rec["pdq_dihedral"] else None
        result.width, result.height = fp.width, fp.height
        if fp.error and fp.error["code"] not in NOT_FAILURES:
            if fp.error["code"] == media_codes.EMPTY_FILE:
                result.warnings.append(fp.error)
            else:
                result.error = fp.error  # a video's is its vPDQ's: the video task decides
        return False


class TooLargeTask:
    """Images and videos too large to hold are not decoded (a video on disk is, from its path, by
    the video task): their digests stand and the record says why nothing else does."""

    name = "too_large"

    def __init__(self, limits: Limits, *, video: bool) -> None:
        self.limits = limits
        self.video = video

    def applies(self, content: Content) -> bool:
        mt = content.media_type
        if content.data is not None or not (mt.is_image or mt.is_video):
            return False
        return not (mt.is_video and content.path is not None and self.video)

    def run(self, content: Content, result: ItemResult) -> bool:
        result.error = {
            "code": media_codes.FILE_TOO_LARGE,
            "message": f"The content is {result.size:,} bytes, over the decode limit of "
            f"{self.limits.max_file_bytes:,} "
            "(TAKEBACK_MAX_FILE_BYTES); SHA-256, SHA-1 and MD5 were computed, nothing was decoded.",
        }
        return False
