"""Where a batch's CPU stage runs: inline on the event loop, or chunk by chunk on any ``concurrent.futures.Executor``.

:class:`Pipeline` first builds the templates of the input circuits that have parameter values (all of
them, before anything is sent, so their transpile errors fail the batch up front), then hands out
chunks in order while it keeps at most :attr:`Pipeline.window` chunks under way on the executor, so the
first chunk can be submitted while later ones are still being prepared and memory stays bounded.

With ``executor="auto"`` a batch with enough CPU work (see :func:`choose_executor`) gets a process pool
sized to the machine, started with the ``forkserver`` method where there is one (its server imports
Qiskit once, every worker is a fork of it) and shut down when preparation ends. Any other executor is
the caller's: it is used as it is and never shut down here. ``"auto"`` starts no pool for a batch started
outside the script's ``__main__`` guard (see :mod:`iqm_async.sweeps._mainguard`): its workers would run the
script's top level, submits included, again. A future is awaited on the event loop
without a thread of ours: the executor's completion callback wakes the loop through anyio.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Literal, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._mainguard import main_reimport_is_safe, main_script
from .inputs import SweepInput
from .stage import (
    ChunkTask,
    Part,
    Run,
    StageSettings,
    TemplateTask,
    build_template,
    circuit_from_canonical,
    prepare_chunk,
)
from .template import WireTemplate

__all__ = [
    "POOL_MIN_CONVERSIONS",
    "POOL_MIN_TRANSPILES",
    "ExecutorChoice",
    "Pipeline",
    "await_future",
    "choose_executor",
]

T = TypeVar("T")

logger = logging.getLogger("iqm_async.batch")

ExecutorChoice = concurrent.futures.Executor | Literal["auto"] | None
"""``run_batch``'s ``executor=``: an executor, ``"auto"`` (the default) or ``None`` (inline, no process)."""

POOL_MIN_TRANSPILES = 1000
"""Circuits to transpile from which ``"auto"`` uses a process pool.

Measured with ``benchmarks/sweeps.py`` on a shared 2-core machine: a pool's start-up (a forkserver importing
Qiskit, then its workers) costs about what transpiling 500 to 800 small circuits does, and the event loop's
own share (sending circuits out, taking wire circuits back) stays: 500 circuits ran at 0.7x of serial, 5,000
at 0.95x to 1.2x. Below a thousand a pool cannot win; above, it does as far as the machine has cores to spare.
"""

POOL_MIN_CONVERSIONS = 20_000
"""Circuits to convert without transpiling from which ``"auto"`` uses a process pool.

Conversion alone is cheap (tenths of a millisecond for small circuits), about what sending a circuit to a
worker and its wire form back costs, so only very large batches gain.
"""


async def await_future(future: concurrent.futures.Future[T]) -> T:
    """Wait for an executor's future on the running event loop (asyncio or trio); cancelling cancels the future."""
    if future.done():
        return future.result()
    token = anyio.lowlevel.current_token()
    loop_thread = threading.get_ident()
    done = anyio.Event()

    def wake(_: concurrent.futures.Future[T]) -> None:
        if threading.get_ident() == loop_thread:
            done.set()  # the future finished while the callback was being added
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody waits any more
            anyio.from_thread.run_sync(done.set, token=token)

    future.add_done_callback(wake)
    try:
        await done.wait()
    except BaseException:
        future.cancel()
        raise
    return future.result()


def choose_executor(
    executor: ExecutorChoice, sweep: SweepInput, transpiling: bool
) -> tuple[concurrent.futures.Executor | None, bool]:
    """Return the executor to use and whether the batch owns it (``"auto"``: a pool only for enough work)."""
    if executor != "auto":
        if executor is not None and not isinstance(executor, concurrent.futures.Executor):
            from ..errors import ValidationError

            raise ValidationError(
                f"executor must be a concurrent.futures.Executor, 'auto' or None, got {type(executor).__name__}"
            )
        return executor, False
    cores = os.cpu_count() or 1
    # Bound points are cheap (their circuit was converted once): only whole circuits count as work.
    work = _single_items(sweep)
    enough = work >= POOL_MIN_TRANSPILES if transpiling else work >= POOL_MIN_CONVERSIONS
    if cores < 2 or not enough:
        return None, False
    if not main_reimport_is_safe():
        _warn_unguarded(work)
        return None, False
    return _process_pool(cores), True


_warned_unguarded = False


def _warn_unguarded(work: int) -> None:
    """Say once per process why a large batch is prepared without a pool (the script has no main guard)."""
    global _warned_unguarded
    if _warned_unguarded:
        return
    _warned_unguarded = True
    logger.warning(
        "Preparing %d circuits in this process, not in a process pool: the pool's workers would run your script "
        "%s again from the top, because this batch is started outside `if __name__ == \"__main__\":`. Put that "
        "code under the guard to prepare in parallel, or pass executor=None to keep it in this process quietly.",
        work,
        main_script(),
    )


def _single_items(sweep: SweepInput) -> int:
    """Items that are whole circuits (converted, maybe transpiled, one by one), not bound points."""
    swept = set(sweep.sweeps)
    return sum(1 for k in range(len(sweep.circuits)) if k not in swept)


def _process_pool(workers: int) -> concurrent.futures.Executor:
    """Return a process pool whose workers start with Qiskit and the stage module imported."""
    methods = multiprocessing.get_all_start_methods()
    context: multiprocessing.context.BaseContext
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["iqm_async.sweeps.stage"])
    else:
        context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)


class Pipeline:
    """Prepares a batch's items chunk by chunk, in order (see the module docstring).

    Args:
        sweep: the batch's items.
        settings: what every chunk shares.
        ranges: the item ranges to prepare, one job each (cut further when a body is too large).
        executor: where chunks run; ``None`` runs them inline between event-loop checkpoints.
        owned: shut the executor down when the pipeline closes.
    """

    def __init__(
        self,
        sweep: SweepInput,
        settings: StageSettings,
        ranges: Sequence[tuple[int, int]],
        executor: concurrent.futures.Executor | None,
        *,
        owned: bool = False,
    ):
        self.sweep = sweep
        self.settings = settings
        self.ranges = list(ranges)
        self.executor = executor
        self.owned = owned
        workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        self.window = 1 if executor is None else 2 * int(workers)
        """Chunks under way at once on the executor."""
        self.produced = 0
        """Ranges handed out so far (the rest are :meth:`remaining`)."""
        self._templates: dict[int, tuple[WireTemplate, list[tuple[str, int]]]] = {}

    async def build_templates(self) -> None:
        """Transpile and convert every input circuit that has parameter values (first error raises)."""
        sources = self.sweep.sweeps
        if not sources:
            return
        tasks = [
            TemplateTask(k, self.sweep.first_item(k), self.sweep.circuit(k), self.settings) for k in sources
        ]
        if self.executor is None:
            for task in tasks:
                self._templates[task.source] = build_template(task)
                await anyio.lowlevel.checkpoint()
            return
        futures = [self.executor.submit(build_template, task) for task in tasks]
        try:
            for task, future in zip(tasks, futures):
                self._templates[task.source] = await await_future(future)
        finally:
            for future in futures:
                future.cancel()

    def _task(self, start: int, stop: int) -> ChunkTask:
        runs = []
        for source, first_point, circuit, values in self.sweep.runs(start, stop):
            if values is None:
                runs.append(Run(source, first_point, circuit=circuit))
            else:
                template, registers = self._templates[source]
                runs.append(Run(source, first_point, template=template, values=values, registers=registers))
        return ChunkTask(start, runs, self.settings)

    async def parts(self) -> AsyncGenerator[list[Part], None]:
        """Yield each range's prepared parts, in order; a failed chunk raises its error (naming the item)."""
        if self.executor is None:
            while self.produced < len(self.ranges):
                start, stop = self.ranges[self.produced]
                parts = prepare_chunk(self._task(start, stop))
                self.produced += 1
                yield parts
                await anyio.lowlevel.checkpoint()
            return
        pending: deque[concurrent.futures.Future[list[Part]]] = deque()
        queued = self.produced
        submit: Callable[..., concurrent.futures.Future[Any]] = self.executor.submit
        try:
            while self.produced < len(self.ranges):
                while queued < len(self.ranges) and len(pending) < self.window:
                    start, stop = self.ranges[queued]
                    pending.append(submit(prepare_chunk, self._task(start, stop).ship()))
                    queued += 1
                parts = await await_future(pending.popleft())
                for part in parts:
                    if not part.circuits:
                        part.circuits = tuple(circuit_from_canonical(e) for e in part.encoded)
                self.produced += 1
                yield parts
        finally:
            for future in pending:
                future.cancel()

    def remaining(self) -> list[tuple[int, int]]:
        """Ranges not handed out yet."""
        return self.ranges[self.produced :]

    def close(self) -> None:
        """Shut down an executor this pipeline owns (without waiting: the loop must not block on it)."""
        if self.owned and self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.owned = False
