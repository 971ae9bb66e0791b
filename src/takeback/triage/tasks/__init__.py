"""Per-item work, run in worker processes: read once, then small independent tasks fill one result.

A queue entry is one item: a :class:`FileTask` (a file on disk, read here by :mod:`.read`) or a
:class:`BytesTask` (an archive member's bytes, read by the main process, which owns the archive).
Its content then goes through the tasks of :func:`~.runner.build_tasks`, each one small class with
``applies`` and ``run`` (:class:`~.base.ItemTask`) that fills its fields of one typed
:class:`~takeback.triage.models.ItemResult`, from which the stored columns are derived:

1. fingerprint (:mod:`.fingerprint`): SHA-256, MD5, PDQ + 8 dihedral, SHA-1; a video's vPDQ;
2. known-file lists (:mod:`.known`): a hit makes the item ``known`` and ends its analysis;
3. archive (:mod:`.archive`): ends the item's analysis; the main process lists its members;
4. provenance (:mod:`.provenance`, which runs the tier-4 classifier plug-ins), EXIF camera fields
   and creation traces (:mod:`.exif`), nudity (:mod:`.nudity`), video (:mod:`.video`);
5. too large (:mod:`.fingerprint`): content over the decode limit says why it was not decoded.

Each failure is recorded on the item, never raised; a bug in one item fails that item only.
"""

from takeback.triage.tasks.base import BytesTask, FileTask, ItemTask, KnownSource, Task, WorkerOptions
from takeback.triage.tasks.runner import (
    analyse_bytes,
    analyse_streamed,
    init_worker,
    run_chunk,
    run_file,
    run_task,
    worker_options,
)

__all__ = [
    "BytesTask",
    "FileTask",
    "ItemTask",
    "KnownSource",
    "Task",
    "WorkerOptions",
    "analyse_bytes",
    "analyse_streamed",
    "init_worker",
    "run_chunk",
    "run_file",
    "run_task",
    "worker_options",
]
