"""What the synchronous facade costs on top of the async core, per call, with the server on loopback.

Prints one table from one run: the median time of each call through the facade (``iqm_sync_shim``,
blocking, from a plain thread) and through the core (``iqm_async``, awaited on the caller's own event
loop), and the difference. Target: facade overhead under 1 ms per call.

Rows:

* ``result()`` / ``await result_async()`` on an already completed job (both answer from their cache);
* ``status()`` / ``await status_async()`` on a completed job (cached final status, no request);
* ``status()`` on a waiting job: one real status request each, so the difference is the portal hop;
* a no-op call through the portal, the raw price of crossing to the background loop.

The embedded server runs with rate limiting off and the clients' request budgets off, so that pacing
does not mix into the figures.

    python benchmarks/facade_overhead.py [repetitions]
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, RateLimitPolicy
from iqm_async.server import RateLimitConfig, serve_in_thread
from iqm_sync_shim import IQMProvider
from iqm_sync_shim._runner import get_runner

NO_BUDGET = RateLimitPolicy(enabled=False)


def circuit() -> QuantumCircuit:
    """Return a Bell circuit in native gates (nothing to transpile)."""
    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(math.pi / 2, math.pi / 2, 0)
    qc.r(math.pi / 2, math.pi / 2, 1)
    qc.cz(0, 1)
    qc.r(-math.pi / 2, math.pi / 2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def median_us(fn: Callable[[], Any], n: int) -> float:
    """Return the median time of ``fn()`` in microseconds over ``n`` calls, after a warm-up."""
    for _ in range(min(50, n)):  # warm-up: connections, caches, code paths
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


async def amedian_us(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """Return the median time of ``await fn()`` in microseconds over ``n`` calls, after a warm-up."""
    for _ in range(min(50, n)):
        await fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


async def noop() -> None:
    """Do nothing: the price of the call itself."""
    return None


def main() -> None:
    """Measure both paths against one loopback server and print the table."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_requests = max(50, n // 5)
    rows: list[tuple[str, float, float]] = []
    with serve_in_thread(seed=1, rate_limit=RateLimitConfig(enabled=False)) as server:
        with IQMProvider(server.url, rate_limit=NO_BUDGET) as provider:
            backend = provider.get_backend()
            done = backend.run(circuit(), shots=100)
            done.result()
            server.state.hold()
            waiting = backend.run(circuit(), shots=100)
            facade = {
                "result(), completed job": median_us(done.result, n),
                "status(), completed job": median_us(done.status, n),
                "status(), waiting job (1 request)": median_us(waiting.status, n_requests),
                "no-op through the portal": median_us(lambda: get_runner().run(noop), n),
            }
            waiting.cancel()
            server.state.release()

        async def core() -> dict[str, float]:
            """Measure the same calls on the core, awaited on this thread's own event loop."""
            async with AsyncIQMClient(server.url, rate_limit=NO_BUDGET) as client:
                done = await client.submit(circuit(), shots=100)
                await done.result_async()
                server.state.hold()
                waiting = await client.submit(circuit(), shots=100)
                out = {
                    "result(), completed job": await amedian_us(done.result_async, n),
                    "status(), completed job": await amedian_us(done.status_async, n),
                    "status(), waiting job (1 request)": await amedian_us(waiting.status_async, n_requests),
                    "no-op through the portal": await amedian_us(noop, n),
                }
                await waiting.cancel_async()
                server.state.release()
                return out

        core_times = anyio.run(core)
    for name, facade_us in facade.items():
        rows.append((name, facade_us, core_times[name]))

    width = max(len(r[0]) for r in rows)
    print(f"facade overhead, median of {n} calls ({n_requests} for requests), loopback server")
    print(f"{'call':<{width}}  {'facade (µs)':>12}  {'core (µs)':>10}  {'overhead (µs)':>14}")
    print("-" * (width + 42))
    for name, facade_us, core_us in rows:
        print(f"{name:<{width}}  {facade_us:>12.2f}  {core_us:>10.2f}  {facade_us - core_us:>14.2f}")
    worst = max(f - c for _, f, c in rows)
    verdict = "met" if worst < 1000 else "NOT met"
    print(f"largest overhead {worst:.1f} µs per call; target < 1000 µs: {verdict}")


if __name__ == "__main__":
    main()
