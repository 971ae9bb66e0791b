"""Media errors. Each ``code`` is stable: it lands in hash records, API responses and scan reports."""

from __future__ import annotations

from takeback.errors import TakebackError


class MediaError(TakebackError):
    """A file could not be read or decoded as media."""

    code = "media_error"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the code when a result carrying this error crosses a process boundary (batch workers).
        return (_rebuild, (type(self), self.message, self.code))


def _rebuild(cls: type[MediaError], message: str, code: str) -> MediaError:
    return cls(message, code=code)


# Stable codes, listed once so callers and docs agree.
NOT_FOUND = "not_found"
PERMISSION_DENIED = "permission_denied"
NOT_A_FILE = "not_a_file"
SYMLINK_LOOP = "symlink_loop"
SYMLINK_OUTSIDE = "symlink_outside_source"
READ_ERROR = "read_error"
EMPTY_FILE = "empty_file"
FILE_TOO_LARGE = "file_too_large"
TOO_MANY_PIXELS = "too_many_pixels"
UNSUPPORTED_TYPE = "unsupported_type"
TRUNCATED = "truncated_image"
CORRUPT = "corrupt_image"
# Video (``media.video``): a partial result carries one of these as its ``partial`` note.
NO_VIDEO_STREAM = "no_video_stream"
NO_FRAMES = "no_video_frames"
CORRUPT_VIDEO = "corrupt_video"
TRUNCATED_VIDEO = "truncated_video"
CORRUPT_FRAMES = "corrupt_frames"
VIDEO_TOO_LARGE = "video_too_large"
VIDEO_TOO_LONG = "video_too_long"
