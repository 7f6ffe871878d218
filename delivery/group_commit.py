"""Group commit: writes that sending threads ask for at the same moment share one statement.

Each sending thread must see its row's ledger write committed before it goes on (the mark before
the SES call, the outcome after it). One statement and commit per row cost more CPU than the SES
call itself (docs/benchmarks); here the first thread to arrive writes for every thread waiting
behind it, so N threads cost one round trip, and a lone thread pays nothing extra.
"""

import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Request(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Run `write` once for the items of every caller queued while an earlier write ran.

    `write` takes a list of items and returns one result per item, in order. It runs on the thread
    of whichever caller found no write under way, on that thread's own database connection; an
    exception it raises reaches every caller of that round.
    """

    def __init__(self, write: Callable[[list[Item]], Sequence[Result]]) -> None:
        self._write = write
        self._condition = threading.Condition()
        self._queue: list[_Request[Item, Result]] = []
        self._writing = False
        self._pid = os.getpid()

    def submit(self, item: Item) -> Result:
        """Queue one item, wait until a write has committed it, return its result."""
        request: _Request[Item, Result] = _Request(item)
        with self._condition:
            if self._pid != os.getpid():  # A forked child starts with its own, empty queue.
                self._queue, self._writing, self._pid = [], False, os.getpid()
            self._queue.append(request)
            while self._writing and not request.done:
                self._condition.wait()
            if not request.done:
                batch, self._queue, self._writing = self._queue, [], True
        if not request.done:
            self._write_batch(batch)
        if request.error is not None:
            raise request.error
        # A request marked done without an error holds the result its write returned.
        return cast(Result, request.result)

    def _write_batch(self, batch: list[_Request[Item, Result]]) -> None:
        results: Sequence[Result | None]
        error: BaseException | None
        try:
            results = self._write([request.item for request in batch])
        except BaseException as exc:
            results, error = [None] * len(batch), exc
        else:
            error = None
        with self._condition:
            for request, result in zip(batch, results, strict=True):
                request.result, request.error, request.done = result, error, True
            self._writing = False
            self._condition.notify_all()
