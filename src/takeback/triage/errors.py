"""Triage errors and the stable codes a scan writes into items, reports and custody entries."""

from __future__ import annotations

from takeback.errors import TakebackError
from takeback.media import errors as media_codes


class TriageError(TakebackError):
    """A scan cannot start or go on (the case folder is busy, full, or belongs to another scan)."""

    code = "triage_error"


# Case-level codes (raised as TriageError).
NOT_A_CASE = "not_a_case"
CASE_BUSY = "case_busy"
CASE_MISMATCH = "case_mismatch"
CASE_NEWER = "case_newer"
DISK_FULL = "disk_full"
NO_SOURCES = "no_sources"
EXCLUSION_LIST = "exclusion_list_unreadable"

# Per-item codes (stored on items; listed in the report's error table). Media codes
# (``takeback.media.errors``) are used as they are.
ARCHIVE_BOMB = "archive_bomb"
ARCHIVE_HEADER_TOO_LARGE = "archive_header_too_large"
ARCHIVE_UNSAFE_PATH = "archive_unsafe_path"
ARCHIVE_CORRUPT = "archive_corrupt"
ARCHIVE_TOO_DEEP = "archive_too_deep"
ARCHIVE_ENCRYPTED = "archive_encrypted"
ARCHIVE_LINK = "archive_link"
ARCHIVE_CHANGED = "archive_changed"
SYMLINK_OUTSIDE = media_codes.SYMLINK_OUTSIDE
SYMLINK_FOLDER = "symlink_folder"
CHANGED = "changed_during_scan"
VANISHED = "vanished_during_scan"
DECODER_CRASH = "decoder_crash"
ANALYSIS_FAILED = "analysis_failed"
