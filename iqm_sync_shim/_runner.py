"""``PortalRunner``: the one background event loop that every blocking call of the shim runs on.

This is the only module of ``iqm_sync_shim`` that knows about threads and event loops. Everything
else hands a coroutine function to :meth:`PortalRunner.run` (blocking) or :meth:`PortalRunner.submit`
(a :class:`concurrent.futures.Future`, for the ``*_async`` bridge)::

    runner = get_runner()
    status = runner.run(core_job.status_async)          # blocks the calling thread only
    future = runner.submit(core_job.result_async)       # concurrent.futures.Future

Design ("Pitfalls of a sync facade"):

* **One loop per process.** :func:`get_runner` returns a process-wide singleton. Its portal (anyio's
  :class:`~anyio.from_thread.BlockingPortal` serving an asyncio loop in one daemon thread) starts
  lazily on the first call, so importing the shim starts nothing. Many threads calling at once become
  tasks on that one loop. The shim never runs a loop per thread or per call, never drives or looks up
  the caller's loop, and never patches a loop to be re-entrant. A caller inside a running event loop
  (a Jupyter cell, a plain ``def`` called from ``async def``) just waits on a future.
* **Why not ``start_blocking_portal`` itself.** The thread runs exactly what anyio's
  :func:`~anyio.from_thread.start_blocking_portal` runs (``anyio.run`` of a task that opens a
  ``BlockingPortal`` and sleeps until it is stopped), but without its generator context manager. That
  generator's clean-up stops the portal *through the loop* and joins the thread without a deadline,
  and it also runs when the generator is garbage-collected. In a forked child, the inherited generator
  refers to the parent's loop, which does not exist there: collecting it at the child's interpreter
  exit printed errors and could block for ever. Owning the thread keeps the join bounded and gives a
  forked child nothing to finalise.
* **Loop-bound resources stay on the loop.** Clients registered with :meth:`PortalRunner.add_resource`
  are closed on the portal loop at :meth:`PortalRunner.close` (and so at interpreter exit).
* **No self-deadlock.** :meth:`run` and :meth:`submit` refuse with :class:`PortalThreadError` when
  called on the portal thread itself, where waiting for the loop would wait for ourselves.
* **Ctrl-C.** The caller waits on the future in short slices (:data:`WAIT_SLICE`), so a
  ``KeyboardInterrupt`` is seen within a slice. On any ``BaseException`` the future is cancelled (which
  cancels the task's scope on the loop) and the exception re-raised. Remote jobs are left alone:
  only an explicit cancel stops a job on the server.
* **fork.** The runner records the pid that created it. In a forked child :func:`get_runner` (and an
  ``os.register_at_fork`` hook) drops the parent's runner *without touching it*: its thread does not
  exist in the child, and its sockets belong to the parent. The stale object is kept referenced so no
  finaliser ever runs against the parent's loop, and the child lazily gets a fresh runner.
* **Interpreter exit.** An ``atexit`` hook first cancels calls still under way, then closes the
  registered clients on the portal under a short deadline, stops the portal and joins its thread with
  a deadline. It is idempotent and never starts a portal. The thread is a daemon, so a forgotten close
  cannot hang exit; daemon threads still blocked in a call are left asleep, as Python leaves every
  daemon thread at exit, instead of being woken with an exception that would print during shutdown.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import queue
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

# A provider is always followed by requests, so the facade imports the HTTP stack's connection layer (httpcore) and
# anyio's asyncio backend with itself (as IQM's adapter imports requests), instead of inside the first
# call, where they cost 15-20 ms of what users time as IQMProvider(url).get_backend(). httpx and anyio
# load both lazily; the core keeps that, as an async service may never need them at import.
import anyio
import anyio._backends._asyncio
import anyio.lowlevel
import httpcore  # noqa: F401
from anyio.from_thread import BlockingPortal

__all__ = [
    "CLOSE_DEADLINE",
    "WAIT_SLICE",
    "PortalRunner",
    "await_future",
    "PortalThreadError",
    "RunnerClosedError",
    "get_runner",
]

logger = logging.getLogger("iqm_sync_shim")

T = TypeVar("T")
U = TypeVar("U")

WAIT_SLICE = 0.1
"""Seconds a blocked caller waits on the future before checking for signals again (Ctrl-C latency)."""

CLOSE_DEADLINE = 2.0
"""Seconds :meth:`PortalRunner.close` gives the registered clients to close, and the thread to end."""

_DONE = object()
"""Queue sentinel: the streamed call has finished."""


class PortalThreadError(RuntimeError):
    """A blocking shim call was made on the portal's own thread, where it would wait for itself."""


class RunnerClosedError(RuntimeError):
    """The runner was closed (explicitly, or because the interpreter is exiting)."""


class AsyncResource(Protocol):
    """Something with an ``aclose()`` coroutine that must run on the loop it was created on."""

    async def aclose(self) -> None:
        """Release the resource."""


class PortalRunner:
    """A lazily started background event loop that blocking callers hand coroutines to.

    Normally used through :func:`get_runner`; tests of the lifecycle create private instances.

    Args:
        name: name of the portal thread (shows up in thread dumps).
    """

    def __init__(self, *, name: str = "iqm-sync-shim-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        # Keyed by id() so that unhashable or equal-comparing resources are tracked one by one.
        self._resources: dict[int, AsyncResource] = {}
        # Calls still under way, so close() can cancel them before it closes the clients they use.
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._portal is not None else "not started")
        return f"<PortalRunner pid={self._pid} {state}>"

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int:
        """The process this runner belongs to."""
        return self._pid

    @property
    def started(self) -> bool:
        """True once the portal thread has been started (and until the runner is closed)."""
        return self._portal is not None and not self._closed

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def thread(self) -> threading.Thread | None:
        """The portal thread, once started."""
        return self._thread

    def on_portal_thread(self) -> bool:
        """Tell whether the caller runs on this runner's portal thread (where it must not block)."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def _ensure_portal(self) -> BlockingPortal:
        portal = self._portal
        if portal is not None and not self._closed and self._pid == os.getpid():
            return portal
        with self._lock:
            if self._closed:
                raise RunnerClosedError(
                    "The iqm_sync_shim event loop is closed (the interpreter is exiting, or close() was called)."
                )
            if os.getpid() != self._pid:
                raise RuntimeError("This PortalRunner belongs to the parent process; use get_runner() in the child.")
            if self._portal is None:
                self._portal, self._thread = self._start_portal()
            return self._portal

    def _start_portal(self) -> tuple[BlockingPortal, threading.Thread]:
        """Start the daemon thread running the loop and return its portal once it accepts calls."""
        ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()

        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        def main() -> None:
            try:
                anyio.run(serve, backend="asyncio")
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                else:  # pragma: no cover - the loop itself failed after start-up
                    logger.exception("the iqm_sync_shim event loop stopped with an error")

        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 14):
            # Threads may inherit the starter's context there; the loop must not see a caller's contextvars.
            kwargs["context"] = contextvars.Context()
        thread = threading.Thread(target=main, name=self._name, daemon=True, **kwargs)
        thread.start()
        return ready.result(), thread

    def _refuse_on_portal_thread(self, what: str) -> None:
        if self.on_portal_thread():
            raise PortalThreadError(
                f"{what} was called on the iqm_sync_shim event loop thread, where it would wait for itself. "
                "In code that runs on that loop, await the *_async methods or the iqm_async core instead."
            )

    # ------------------------------------------------------------------ calls

    def submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        """Start ``fn(*args)`` as a task on the portal loop and return its future (never blocks on the task).

        Cancelling the future cancels the task's scope on the loop.

        Raises:
            PortalThreadError: when called on the portal thread.
            RunnerClosedError: when the runner was closed.
        """
        self._refuse_on_portal_thread("A blocking iqm_sync_shim call")
        try:
            future = self._ensure_portal().start_task_soon(fn, *args)
        except RuntimeError as exc:
            if self._closed and not isinstance(exc, RunnerClosedError):
                raise RunnerClosedError("The iqm_sync_shim event loop is closed.") from exc
            raise
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the portal loop and block the calling thread until it returns.

        Raises:
            PortalThreadError: when called on the portal thread.
            BaseException: whatever ``fn`` raised; on ``KeyboardInterrupt`` (or any other interruption of
                the wait) the task is cancelled and the exception re-raised.
        """
        _warn_if_blocking_a_loop()
        return self.wait(self.submit(fn, *args))

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """Block until ``future`` is done, in short slices so Ctrl-C interrupts it; cancel it if interrupted.

        Raises:
            RunnerClosedError: the runner was closed while this call was waiting.
        """
        try:
            while True:
                try:
                    return future.result(timeout=WAIT_SLICE)
                except TimeoutError:
                    # Either our slice ran out, or the task itself raised TimeoutError: tell them apart.
                    if future.done():
                        raise
        except concurrent.futures.CancelledError:
            self._closed_while_waiting()
            raise
        except BaseException:
            future.cancel()
            raise

    def _closed_while_waiting(self) -> None:
        """Handle a call that close() cancelled under a waiting thread."""
        if not self._closed:
            return
        if _exiting and threading.current_thread().daemon:
            # At interpreter exit a daemon thread is simply abandoned, as Python abandons every daemon
            # thread; waking it with an exception would only print a traceback during shutdown.
            threading.Event().wait()
        raise RunnerClosedError("The iqm_sync_shim event loop was closed while this call was waiting.") from None

    def run_streaming(
        self,
        fn: Callable[[Callable[[U], None]], Awaitable[T]],
        on_item: Callable[[U], None],
    ) -> T:
        """Run ``fn(emit)`` on the loop; every ``emit(item)`` calls ``on_item(item)`` on the *calling* thread.

        This is how user callbacks (``wait_for_final_state(callback=...)``) run on the caller's thread,
        fed through a thread-safe queue, and never on the portal loop, where a slow or blocking
        callback would stall every other job.
        """
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        future = self.submit(fn, items.put)
        # Wake the consumer at once when the call ends instead of after a slice.
        future.add_done_callback(lambda _: items.put(_DONE))
        try:
            while True:
                try:
                    item = items.get(timeout=WAIT_SLICE)
                except queue.Empty:
                    continue
                if item is _DONE:
                    break
                on_item(item)
            return future.result()
        except concurrent.futures.CancelledError:
            self._closed_while_waiting()
            raise
        except BaseException:
            future.cancel()
            raise

    # ------------------------------------------------------------------ resources and lifecycle

    def add_resource(self, resource: AsyncResource) -> None:
        """Close ``resource`` on the loop when the runner closes (at the latest, at interpreter exit)."""
        with self._lock:
            self._resources[id(resource)] = resource

    def discard_resource(self, resource: AsyncResource) -> None:
        """Stop tracking ``resource`` (its owner closed it)."""
        with self._lock:
            self._resources.pop(id(resource), None)

    async def _aclose_resources(self, resources: list[AsyncResource], deadline: float) -> None:
        async def close_one(resource: AsyncResource) -> None:
            try:
                await resource.aclose()
            except Exception:  # one broken client must not keep the others open
                logger.warning("closing %r at shutdown failed", resource, exc_info=True)

        # Let the calls close() just cancelled unwind first, so no request is cut off by a closing pool.
        await anyio.lowlevel.checkpoint()
        with anyio.move_on_after(deadline) as scope:
            async with anyio.create_task_group() as tg:
                for resource in resources:
                    tg.start_soon(close_one, resource)
        if scope.cancelled_caught:
            logger.warning("closing %d client(s) took longer than %.1f s; gave up", len(resources), deadline)

    def close(self, deadline: float = CLOSE_DEADLINE) -> None:
        """Close the registered resources on the loop, stop the loop and join its thread; idempotent.

        Never starts a portal. Calls still waiting on the loop from other threads end with
        :class:`concurrent.futures.CancelledError`. In a forked child this only marks the runner closed:
        the parent's loop is not touched.
        """
        self._refuse_on_portal_thread("PortalRunner.close()")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, thread = self._portal, self._thread
            resources = list(self._resources.values())
            self._resources.clear()
        if portal is None or thread is None or os.getpid() != self._pid:
            return
        # Cancel calls still under way (waits left behind by other threads) before their clients close.
        for future in list(self._pending):
            future.cancel()
        try:
            if resources:
                portal.start_task_soon(self._aclose_resources, resources, deadline).result(deadline + 1.0)
        except BaseException as exc:  # shutting down: report, but go on stopping the loop
            logger.warning("closing clients at shutdown failed: %r", exc)
        # cancel_remaining=True: waits left behind by other threads must not keep the loop alive.
        with contextlib.suppress(RuntimeError):  # already stopped
            portal.call(portal.stop, True)
        thread.join(deadline)
        if thread.is_alive():
            # A task is ignoring cancellation; the thread is a daemon, so it cannot hang exit.
            logger.warning("the iqm_sync_shim event loop did not stop within %.1f s; leaving it", deadline)


# ---------------------------------------------------------------------- blocking calls on a loop's thread

_warned_blocking = False


def _warn_if_blocking_a_loop() -> None:
    """Warn once per process when a blocking facade call runs on a thread whose event loop it stalls.

    The call still works (the portal runs it on its own loop), but every other task of the caller's loop
    waits meanwhile. IPython and Jupyter are left alone: their loop runs cells, and blocking calls in a
    cell are how notebooks are written.
    """
    global _warned_blocking
    if _warned_blocking or not _thread_runs_a_loop() or _in_ipython():
        return
    name, owner, level = _public_caller()
    if owner is None or not hasattr(owner, f"{name}_async"):
        return  # nothing better to offer (backend.run() submits and returns; that is how async code uses it)
    _warned_blocking = True
    kind = type(owner).__name__
    var = kind.removeprefix("IQM").lower() or "obj"
    warnings.warn(
        f"{kind}.{name}() blocks this thread, which runs an event loop: every other task of that loop stalls "
        f"until it returns; use `await {var}.{name}_async(...)` instead. (This warning is shown once.)",
        RuntimeWarning,
        stacklevel=level,
    )


def _thread_runs_a_loop() -> bool:
    return _running_loop_kind() is not None


def _running_loop_kind() -> Literal["asyncio", "trio"] | None:
    """Which event loop runs in this thread, if any."""
    try:
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    return "trio" if trio is not None and trio.lowlevel.in_trio_run() else None


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get is not None and get() is not None


def _public_caller() -> tuple[str, Any, int]:
    """Return the outermost public iqm_sync_shim method on the stack, its ``self``, and its caller's stacklevel.

    The stacklevel is counted from :func:`_warn_if_blocking_a_loop`, so the warning points at the user's line.
    """
    name, owner, level = "", None, 1
    frame: Any = sys._getframe(1)  # _warn_if_blocking_a_loop
    depth = 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("iqm_sync_shim"):
            if not frame.f_code.co_name.startswith("_") and "self" in frame.f_locals:
                name, owner = frame.f_code.co_name, frame.f_locals["self"]
        else:
            level = depth
            break
        frame = frame.f_back
        depth += 1
    return name, owner, level


# ---------------------------------------------------------------------- awaiting from a foreign loop


async def await_future(future: concurrent.futures.Future[T]) -> T:
    """Await a portal future from the caller's own running event loop (asyncio or trio).

    The caller's loop never runs the work: it only waits for the portal's future, so loop-bound
    objects of the portal (its httpx client) are never touched from the caller's loop. Cancelling
    the await cancels the portal future, and so the task's scope on the portal loop; nothing else.

    Raises:
        RuntimeError: when no supported event loop is running in this thread.
    """
    kind = _running_loop_kind()
    if kind == "asyncio":
        # wrap_future chains cancellation both ways: cancelling the await cancels the portal future.
        return await asyncio.wrap_future(future)
    if kind == "trio":
        return await _await_future_trio(sys.modules["trio"], future)
    raise RuntimeError("await_future needs a running asyncio or trio event loop in this thread.")


async def _await_future_trio(trio: Any, future: concurrent.futures.Future[T]) -> T:
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: concurrent.futures.Future[T]) -> None:
        # If the caller's loop has ended, nobody is waiting any more.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(done.set)

    future.add_done_callback(wake)
    try:
        await done.wait()
    except BaseException:
        future.cancel()
        raise
    return future.result()


# ---------------------------------------------------------------------- the process-wide runner

_global_lock = threading.Lock()
_runner: PortalRunner | None = None
_exiting = False
_fork_orphans: list[PortalRunner] = []
"""Runners inherited from a parent process: kept referenced so no finaliser touches the parent's loop."""


def get_runner() -> PortalRunner:
    """Return the process-wide runner, creating it lazily (after a fork or a close, a fresh one).

    Raises:
        RunnerClosedError: during interpreter exit, when no new loop may be started.
    """
    global _runner
    runner = _runner
    if runner is not None and runner.pid == os.getpid() and not runner.closed:
        return runner
    with _global_lock:
        runner = _runner
        if runner is not None and runner.pid != os.getpid():
            _fork_orphans.append(runner)
            runner = _runner = None
        if runner is None or runner.closed:
            if _exiting:
                raise RunnerClosedError("The interpreter is exiting; iqm_sync_shim cannot start its event loop.")
            runner = _runner = PortalRunner()
        return runner


def _after_fork_in_child() -> None:
    """Forget the parent's runner in a forked child without touching it (its thread is not here)."""
    global _global_lock, _runner
    # The lock may have been held by another thread of the parent at the moment of the fork.
    _global_lock = threading.Lock()
    if _runner is not None:
        _fork_orphans.append(_runner)
        _runner = None


def _close_at_exit() -> None:
    """Close the process-wide runner at interpreter exit (idempotent; never starts a portal)."""
    global _exiting
    _exiting = True
    runner = _runner
    if runner is not None and runner.pid == os.getpid() and not runner.on_portal_thread():
        runner.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
