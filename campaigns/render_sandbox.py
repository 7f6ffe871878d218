"""Child processes that run template renders, and workbook reads, under limits the kernel enforces.

The filter checks of render_limits stop the costs they foresee with a clear reason; this is the
guarantee for every other: a render runs in a child process whose address space is capped
(`RLIMIT_AS`) and whose CPU time the kernel ends (`RLIMIT_CPU`), so no filter, however it spends,
can take the memory or the CPU of the worker or web process that asked for it. An uploaded
workbook is read the same way (campaigns.import_workbooks), in a sandbox of its own.

Render children are long-lived and started on first use (from a fork server, so a start costs a
fork, not an interpreter): a render costs one round trip over a pipe. A child killed by a limit is
replaced, and the jobs after the one that killed it go to its successor.
"""

import logging
import math
import multiprocessing
import os
import pickle
import queue
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from django.conf import settings

from campaigns.exceptions import SandboxBusy

logger = logging.getLogger(__name__)

# A child that answers nothing for this long is stuck outside the CPU limit's reach: killed.
WALL_SECONDS = 30.0

_CONTEXT = multiprocessing.get_context("forkserver")
# The fork server sets Django up once, so that each child it forks starts ready (a fork, not a second).
_CONTEXT.set_forkserver_preload(["campaigns.render_child"])


@dataclass(frozen=True)
class Stopped:
    """What a job returns when a kernel limit stopped it: the reason, for the person who wrote it."""

    reason: str


class _Child:
    """One child process and the pipe to it."""

    def __init__(self, memory_bytes: int) -> None:
        self.conn, child_conn = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_child_main, args=(child_conn, memory_bytes), daemon=True, name="campanile-render"
        )
        self.process.start()
        child_conn.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class RenderSandbox:
    """A few children shared by the threads of one process; each job runs in one of them."""

    def __init__(
        self,
        *,
        processes: int,
        memory_bytes: int,
        wall_seconds: float = WALL_SECONDS,
        keep_children: bool = True,
    ) -> None:
        self.pid = os.getpid()
        self.memory_bytes = memory_bytes
        self.wall_seconds = wall_seconds
        #: False: a child ends after each run, giving back whatever memory its jobs took.
        self.keep_children = keep_children
        self._slots: queue.Queue[_Child | None] = queue.Queue()
        for _ in range(processes):
            self._slots.put(None)  # Started on first use: a process that never renders pays nothing.

    def run(
        self,
        func: Callable[[Any], Any],
        jobs: Sequence[Any],
        *,
        cpu_seconds: float,
        wait_seconds: float | None = None,
    ) -> list[Any]:
        """Return func(job) for each job, computed in a child; Stopped where a limit ended it.

        Raises SandboxBusy when no child is free within wait_seconds (None: waits for one).
        """
        try:
            child = self._slots.get(timeout=wait_seconds)
        except queue.Empty:
            raise SandboxBusy(f"every child stayed busy for {wait_seconds:g} s") from None
        try:
            results: list[Any] = []
            for job in jobs:
                if child is None or not child.process.is_alive():
                    child = _Child(self.memory_bytes)
                try:
                    # Pickled here, not by send(): data that cannot be pickled (nested past Python's
                    # recursion limit) fails its own job, and nothing half-written reaches the child.
                    payload = pickle.dumps((func, job, cpu_seconds), protocol=pickle.HIGHEST_PROTOCOL)
                except (RecursionError, pickle.PicklingError, TypeError) as exc:
                    results.append(Stopped(f"its data cannot be handed to the renderer ({exc})"))
                    continue
                try:
                    child.conn.send_bytes(payload)
                except OSError:  # It died taking the job in: a job larger than its memory.
                    answer = _DIED
                else:
                    answer = _receive(child.conn, self.wall_seconds)
                if answer is _DIED or answer is _SILENT:  # A limit ended the child in this job.
                    child.stop()
                    answer = self._stopped(child.process.exitcode, answer is _SILENT, cpu_seconds)
                    logger.warning("A render child was ended and replaced: %s.", answer.reason)
                    child = None
                results.append(answer)
            return results
        except BaseException:
            if child is not None:  # Its answer may still be on its way: a fresh child is safer.
                child.stop()
            child = None
            raise
        finally:
            if child is not None and not self.keep_children:
                child.stop()
                child = None
            self._slots.put(child)

    def _stopped(self, exitcode: int | None, silent: bool, cpu_seconds: float) -> Stopped:
        if exitcode == -signal.SIGXCPU:  # The kernel's CPU limit.
            return Stopped(f"it takes more than {cpu_seconds:g} s to render")
        if silent:
            return Stopped(f"it did not finish rendering within {self.wall_seconds:g} s")
        return Stopped(
            f"it stopped the renderer (exit code {exitcode}); it may need more than "
            f"{self.memory_bytes // 2**20} MB of memory"
        )


# What _receive returns instead of an answer: the child died, or said nothing in time.
_DIED, _SILENT = object(), object()


def _receive(conn: Connection, wall_seconds: float) -> Any:
    """Return the child's next answer, or _DIED or _SILENT."""
    try:
        if conn.poll(wall_seconds):
            return conn.recv()
    except (EOFError, OSError):
        return _DIED
    return _SILENT


def _child_main(conn: Connection, memory_bytes: int) -> None:
    """Serve jobs until the parent goes away, each under the CPU limit, all under the memory cap."""
    from django.apps import apps

    if not apps.ready:  # The fork server's preload failed: set up here, at a second's cost.
        import django

        django.setup()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.path.exists("/proc/self/statm"):  # Linux; elsewhere the kernel does not enforce RLIMIT_AS.
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_bytes, hard))
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        try:
            func, job, cpu_seconds = conn.recv()
        except EOFError:
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # Whole seconds: the kernel counts this limit in seconds, so it ends a job between one and
        # two seconds past its budget; the render's own clock stops most before that.
        cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + cpu_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_hard))
        try:
            result = func(job)
        except MemoryError:
            result = Stopped(f"it needs more than {memory_bytes // 2**20} MB of memory to render")
        try:
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except (RecursionError, pickle.PicklingError, TypeError) as exc:
            payload = pickle.dumps(Stopped(f"its result cannot be handed back ({exc})"))
        conn.send_bytes(payload)


def _address_space() -> int:
    """Return this process's current virtual memory size, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


_sandboxes: dict[tuple, RenderSandbox] = {}
_sandboxes_lock = threading.Lock()


def _sandbox_of(key: tuple, make: Callable[[], RenderSandbox]) -> RenderSandbox:
    """Return this process's sandbox for key (a name and the settings it is made from), made on
    first use, again in a forked process, and again when those settings change."""
    with _sandboxes_lock:
        sandbox = _sandboxes.get(key)
        if sandbox is None or sandbox.pid != os.getpid():
            sandbox = _sandboxes[key] = make()
        return sandbox


def render_sandbox() -> RenderSandbox:
    """Return this process's sandbox for template renders."""
    processes, memory_mb = settings.TEMPLATE_RENDER_PROCESSES, settings.TEMPLATE_RENDER_MAX_MEMORY_MB
    return _sandbox_of(
        ("render", processes, memory_mb),
        lambda: RenderSandbox(processes=processes, memory_bytes=memory_mb * 2**20),
    )


def workbook_sandbox() -> RenderSandbox:
    """Return this process's sandbox for reading uploaded workbooks: one child at a time, ended
    after each workbook (a read of a million rows leaves its child holding hundreds of megabytes)."""
    seconds, memory_mb = settings.IMPORT_WORKBOOK_MAX_SECONDS, settings.IMPORT_WORKBOOK_MAX_MEMORY_MB
    return _sandbox_of(
        ("workbook", seconds, memory_mb),
        lambda: RenderSandbox(
            processes=1,
            memory_bytes=memory_mb * 2**20,
            # The CPU limit ends a busy read; this, one stuck outside the CPU (swapping, say).
            wall_seconds=2 * seconds + 10,
            keep_children=False,
        ),
    )
