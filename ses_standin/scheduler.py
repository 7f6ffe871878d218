"""Run callables later, on a few threads: events and readers happen seconds after a send."""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger("ses_standin")


class Scheduler:
    """A timer heap drained by one thread into a small pool, so a slow endpoint delays only its own."""

    def __init__(self, *, workers: int = 4):
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # Ties run in the order they were scheduled.
        self._wake = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="standin")
        self._outstanding = 0
        threading.Thread(target=self._run, name="standin-timer", daemon=True).start()

    def __call__(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` in `delay` seconds."""
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), action))
            self._outstanding += 1
            self._wake.notify()

    def pending(self) -> int:
        """Return how many actions have not finished yet: waiting for their time, queued or running."""
        with self._wake:
            return self._outstanding

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                _due, _order, action = heapq.heappop(self._heap)
            self._pool.submit(self._guarded, action)

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:  # A bug in one action must not stop the others.
            logger.exception("A stand-in action failed")
        finally:
            with self._wake:
                self._outstanding -= 1
