"""PortalRunner lifecycle on private runner instances (the process-wide one is left to the other tests)."""

from __future__ import annotations

import concurrent.futures
import threading

import anyio
import pytest
from qiskit import QuantumCircuit

from iqm_async.server import RunningServer
from iqm_sync_shim import IQMProvider
from iqm_sync_shim._runner import PortalRunner, PortalThreadError, RunnerClosedError, get_runner

from .conftest import CLIENT_OPTIONS


class Resource:
    """Records on which thread it was closed, like a client bound to the portal loop."""

    def __init__(self) -> None:
        self.closed_on: int | None = None

    async def aclose(self) -> None:
        self.closed_on = threading.get_ident()


async def thread_ident() -> int:
    return threading.get_ident()


def test_starts_lazily_and_runs_on_its_own_thread() -> None:
    runner = PortalRunner(name="test-portal")
    assert not runner.started and runner.thread is None
    ident = runner.run(thread_ident)
    assert runner.started and runner.thread is not None and runner.thread.daemon
    assert ident == runner.thread.ident != threading.get_ident()
    assert runner.run(thread_ident) == ident  # one loop, one thread
    runner.close()
    assert not runner.thread.is_alive()


def test_close_is_idempotent_and_never_starts_a_portal() -> None:
    runner = PortalRunner(name="never-started")
    runner.close()
    runner.close()
    assert runner.closed and runner.thread is None
    assert not [t for t in threading.enumerate() if t.name == "never-started"]
    with pytest.raises(RunnerClosedError):
        runner.run(thread_ident)


def test_close_closes_resources_on_the_loop() -> None:
    runner = PortalRunner()
    kept, dropped = Resource(), Resource()
    runner.add_resource(kept)
    runner.add_resource(dropped)
    runner.discard_resource(dropped)
    loop_thread = runner.run(thread_ident)
    runner.close()
    assert kept.closed_on == loop_thread
    assert dropped.closed_on is None


def test_refuses_blocking_calls_on_the_portal_thread() -> None:
    runner = PortalRunner()

    async def nested() -> None:
        runner.run(thread_ident)

    try:
        with pytest.raises(PortalThreadError, match="wait for itself"):
            runner.run(nested)
    finally:
        runner.close()


def test_a_timeout_raised_by_the_task_is_not_mistaken_for_a_wait_slice() -> None:
    runner = PortalRunner()

    async def times_out() -> None:
        with anyio.fail_after(0):
            await anyio.sleep(1)

    try:
        with pytest.raises(TimeoutError):
            runner.run(times_out)
    finally:
        runner.close()


def test_interrupting_the_wait_cancels_the_task() -> None:
    runner = PortalRunner()
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    class Interrupt(BaseException):
        pass

    future = runner.submit(forever)
    assert started.wait(10)
    # Simulate Ctrl-C arriving in the waiting thread: the slice loop sees it and cancels the future.
    real_result = future.result

    def interrupted(timeout: float | None = None) -> None:
        raise Interrupt

    future.result = interrupted  # type: ignore[method-assign]
    try:
        with pytest.raises(Interrupt):
            runner.wait(future)
        future.result = real_result  # type: ignore[method-assign]
        assert future.cancelled()
        assert cancelled.wait(10)
    finally:
        runner.close()


def test_close_wakes_waiting_threads_with_a_clear_error() -> None:
    runner = PortalRunner()
    started = threading.Event()
    outcome: list[BaseException] = []

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    def waiter() -> None:
        try:
            runner.run(forever)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    assert started.wait(10)
    runner.close()
    t.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], RunnerClosedError)


def test_run_streaming_calls_back_on_the_callers_thread() -> None:
    runner = PortalRunner()
    seen: list[tuple[int, int]] = []

    async def produce(emit: object) -> str:
        assert callable(emit)
        for i in range(3):
            emit(i)
            await anyio.sleep(0)
        return "done"

    try:
        assert runner.run_streaming(produce, lambda i: seen.append((i, threading.get_ident()))) == "done"
    finally:
        runner.close()
    assert seen == [(i, threading.get_ident()) for i in range(3)]


def test_submit_returns_a_concurrent_future() -> None:
    runner = PortalRunner()
    try:
        future = runner.submit(thread_ident)
        assert isinstance(future, concurrent.futures.Future)
        assert future.result(10) == runner.thread.ident  # type: ignore[union-attr]
    finally:
        runner.close()


def test_global_runner_is_a_singleton_and_replaced_after_close(
    shim_server: RunningServer, bell: QuantumCircuit
) -> None:
    assert get_runner() is get_runner()
    with IQMProvider(shim_server.url, **CLIENT_OPTIONS) as provider:
        backend = provider.get_backend()
        old_runner, old_client = get_runner(), backend.async_client
        old_runner.close()  # as at interpreter exit: the provider's client is closed on its loop
        assert old_client.is_closed
        # The next call gets a fresh loop, and the provider a fresh client on it.
        assert backend.run(bell, shots=4).result().success
        assert get_runner() is not old_runner and backend.async_client is not old_client
