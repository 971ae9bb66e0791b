"""The worker's side: its options, its list of tasks, and the entry points the pool calls."""

from __future__ import annotations

from takeback.media import errors as media_codes
from takeback.triage import errors as codes
from takeback.triage.archives import Streamed
from takeback.triage.models import ItemResult
from takeback.triage.tasks import known
from takeback.triage.tasks.archive import ArchiveTask
from takeback.triage.tasks.base import Content, FileTask, ItemTask, Task, WorkerOptions
from takeback.triage.tasks.exif import ExifTask
from takeback.triage.tasks.fingerprint import FingerprintTask, TooLargeTask
from takeback.triage.tasks.known import KnownFileTask
from takeback.triage.tasks.nudity import NudityTask
from takeback.triage.tasks.provenance import ProvenanceTask
from takeback.triage.tasks.read import read_file
from takeback.triage.tasks.video import VideoTask


def build_tasks(options: WorkerOptions) -> tuple[ItemTask, ...]:
    """The analysis of one item, in order: a task sees what those before it found, the known-file
    and archive tasks end an item's analysis, and the order of its warnings follows this list. A new
    analysis (consent-based face templates) is one more task here and one more result field."""
    tasks: list[ItemTask] = [FingerprintTask(options.limits)]
    if options.known:
        tasks.append(KnownFileTask(options.known))
    tasks += [ArchiveTask(), ProvenanceTask(options.limits, watermarks=options.watermarks), ExifTask()]
    if options.nudity:
        tasks.append(NudityTask(options.limits))
    tasks += [VideoTask(enabled=options.video), TooLargeTask(options.limits, video=options.video)]
    return tuple(tasks)


# --- worker state ------------------------------------------------------------------------------------

_options = WorkerOptions()
_tasks = build_tasks(_options)


def init_worker(options: WorkerOptions) -> None:
    """Process initializer: one BLAS thread (N workers use N cores) and the worker's options."""
    global _options, _tasks
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _options, _tasks = options, build_tasks(options)
    known.reset()


def worker_options() -> WorkerOptions:
    """The options this worker was started with (the grouping steps' feature workers read its limits)."""
    return _options


# --- entry points ------------------------------------------------------------------------------------


def analyse(item_id: int, content: Content) -> ItemResult:
    """Every task that applies, in order, until one says the item needs nothing more."""
    result = ItemResult(item_id)
    for task in _tasks:
        if task.applies(content) and task.run(content, result):
            break
    return result


def analyse_bytes(item_id: int, data: bytes, name: str) -> ItemResult:
    """Everything for one item whose bytes are in memory."""
    return analyse(item_id, Content.of_bytes(data, name))


def analyse_streamed(item_id: int, s: Streamed, *, name: str = "", path: bytes | None = None) -> ItemResult:
    """An item too large to hold in memory: digests only (plus vPDQ for a video file on disk; an
    archive file on disk is still expanded, read in place)."""
    return analyse(item_id, Content.of_stream(s, name=name, path=path))


def run_file(task: FileTask) -> ItemResult:
    """A file on disk: read once, analysed, and flagged if it changed while listed or read."""
    read = read_file(task, _options.limits.max_file_bytes)
    if isinstance(read, ItemResult):
        return read
    result = analyse(task.item_id, read.content)
    read.note_change(task, result)
    return result


def run_task(task: Task) -> ItemResult:
    try:
        if isinstance(task, FileTask):
            return run_file(task)
        return analyse_bytes(task.item_id, task.data, task.name)
    except MemoryError:
        return ItemResult.failed(
            task.item_id, media_codes.TOO_MANY_PIXELS, "Not enough memory to analyse this item."
        )
    except Exception as exc:  # one item's bug must not lose the others in its chunk
        return ItemResult.failed(
            task.item_id, codes.ANALYSIS_FAILED, f"Analysis failed: {type(exc).__name__}: {exc}"[:300]
        )


def run_chunk(tasks: list[Task]) -> list[ItemResult]:
    return [run_task(t) for t in tasks]
