"""The worker's matching service, opened in the background so the process answers at once.

Loading (or, the first time, building) the PDQ index can take seconds at millions of hashes; until
it is done ``/status/live`` answers and ``/status`` says ``INDEX-NOT-LOADED``. A lookup that arrives
meanwhile waits for the index (at most ``LOOKUP_WAIT_S``) instead of failing: a client that did not
ask ``/status`` first, or reached this worker while another answered ``/status``, still gets its
answer; only after that wait (or when the index could not be opened) is it 503 ``index_not_ready``.
In a multi-worker serve ``/status`` is 200 only when every worker is ready (``workers.ServeRun``).
Freshness: the matcher polls the store's change log at most every
``CHECK_INTERVAL_S`` before a lookup (writes made through this worker are visible to its next lookup
at once, via ``mark_stale``). ``/status`` reports ``INDEX-STALE`` when the change log could not be
read for ``STALE_AFTER_S``.

The video matcher (:class:`~takeback.matching.video_banks.VideoMatcher`: bank videos' frame hashes)
is one per worker too, loaded in the same background thread after the PDQ index; it checks the change
log itself on every video lookup (a video lookup costs far more than that one query).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from takeback.index import warm
from takeback.matching import Matcher, open_matcher
from takeback.matching.video_banks import VideoMatcher
from takeback.store import Database
from takeback.web.errors import ApiError
from takeback.web.workers import ServeRun

log = logging.getLogger("takeback.web")

#: the change log is polled at most this often per worker (one indexed ``max(seq)`` query)
CHECK_INTERVAL_S = 0.1
#: readiness fails when the change log has not been readable for this long
STALE_AFTER_S = 30.0
#: a lookup arriving while the index loads waits this long for it before answering 503
LOOKUP_WAIT_S = 30.0


@contextlib.contextmanager
def _one_at_a_time(data_dir: Path | None) -> Iterator[None]:
    """Workers open the index one after another. The first to find no index file builds and saves
    it; the others then load that file memory-mapped (seconds saved, and its pages shared between
    workers) instead of each building a private copy from the store at the same time."""
    if data_dir is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_dir = data_dir / "index"
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_dir / "open.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class MatcherHandle:
    def __init__(self, db: Database, *, data_dir: Path | None, run: ServeRun | None = None) -> None:
        self._db = db
        self._data_dir = data_dir
        self._run = run
        self._matcher: Matcher | None = None
        self._opened = threading.Event()  # set when opening ended, whether or not it worked
        self.video = VideoMatcher(db)  # thread-safe; shared by every request of this worker
        self._error: BaseException | None = None
        self._fresh_at = 0.0
        self._thread = threading.Thread(target=self._open, name="takeback-index-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self._matcher is not None

    def _open(self) -> None:
        started = time.perf_counter()
        try:
            with _one_at_a_time(self._data_dir):
                self._matcher = open_matcher(
                    self._db, data_dir=self._data_dir, check_interval=CHECK_INTERVAL_S
                )
            self._fresh_at = time.monotonic()
            log.info(
                "match index ready: %d PDQ hashes in %.1f s",
                len(self._matcher),
                time.perf_counter() - started,
            )
            if self._run is not None:
                self._run.mark_ready()
            # Lookups run the NumPy kernels until the compiled ones are in the cache (compiled in
            # the background on a first start), then this worker switches over.
            warm.load_when_available()
        except BaseException as exc:  # reported by /status and by every lookup
            self._error = exc
            log.error("could not open the match index: %s", exc)
            return
        finally:
            self._opened.set()
        try:  # warm the video matcher now rather than on the first video lookup
            with self._db.session() as s:
                self.video.refresh(s)
            log.info("video index ready: %d bank videos", len(self.video))
        except Exception as exc:  # the first video lookup loads it instead (and reports errors)
            log.warning("could not load the video index yet: %s", type(exc).__name__)

    @property
    def ready(self) -> bool:
        """This worker's index is loaded."""
        return self._matcher is not None

    def service_ready(self) -> bool:
        """Every worker of this serve has its index loaded (this one alone outside a serve)."""
        return self.ready and (self._run is None or self._run.all_ready())

    async def ready_matcher(self, timeout: float = LOOKUP_WAIT_S) -> Matcher:
        """The matcher, waiting up to ``timeout`` while it loads; then as :meth:`get`."""
        if self._matcher is None and not self._opened.is_set():
            deadline = time.monotonic() + timeout
            while not self._opened.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # only while the worker starts: polling costs nothing
        return self.get()

    def get(self) -> Matcher:
        """The matcher, or 503 while it loads (or if it failed to)."""
        if self._matcher is None:
            if self._error is not None:
                raise ApiError(
                    f"The match index could not be opened ({type(self._error).__name__}); "
                    "see the server log.",
                    code="index_not_ready",
                    status=503,
                )
            raise ApiError(
                "The match index is still loading; retry in a few seconds (see /status).",
                code="index_not_ready",
                status=503,
                headers={"Retry-After": "2"},
            )
        return self._matcher

    def check_fresh(self) -> bool:
        """Catch up with the change log now; ``False`` when it has not been readable for a while."""
        matcher = self._matcher
        if matcher is None:
            return False
        try:
            matcher.refresh()
            self._fresh_at = time.monotonic()
        except Exception as exc:
            log.warning("change log unreadable: %s", type(exc).__name__)
        return time.monotonic() - self._fresh_at < STALE_AFTER_S

    def close(self) -> None:
        if self._run is not None:
            self._run.clear()
        self._thread.join(timeout=60)
        if self._matcher is not None:
            self._matcher.close()
