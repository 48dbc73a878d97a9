"""What telemetry costs per request: status reads of one job, with logs and OpenTelemetry off and on.

Prints one table from one run: the median time of a status request (``GET /jobs/{id}``, a real request
to the embedded server on loopback) in each mode, and its ratio to the baseline of the same run, the
client with telemetry switched off (``telemetry.configure(enabled=False)``, logging at WARNING):

* ``API, no SDK``: OpenTelemetry's API imported but no SDK installed (the no-op tracer);
* ``SDK``: the SDK's tracer and meter providers, spans kept by an in-memory exporter;
* ``DEBUG logs``: every request's DEBUG record built and handed to a handler that drops it.

The server runs without rate limiting and the client without a request budget, so pacing does not mix in.

    python benchmarks/telemetry.py [requests per mode]
"""

from __future__ import annotations

import logging
import math
import statistics
import sys
import time

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, RateLimitPolicy, telemetry
from iqm_async.server import RateLimitConfig, ServerConfig, serve_in_thread


def flip() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name="flip")
    qc.r(math.pi, 0.0, 0)
    qc.measure(0, 0)
    return qc


async def median_request(url: str, job_id: str, n: int) -> float:
    """Median seconds of one status request, over ``n`` requests after a few warm-up ones."""
    async with AsyncIQMClient(url, rate_limit=RateLimitPolicy(enabled=False)) as client:
        for _ in range(20):
            await client.job_data(job_id)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await client.job_data(job_id)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    logger = logging.getLogger("iqm_async")
    with serve_in_thread(ServerConfig(seed=1, rate_limit=RateLimitConfig(enabled=False))) as server:

        async def submit() -> str:
            async with AsyncIQMClient(server.url, rate_limit=RateLimitPolicy(enabled=False)) as client:
                job = await client.submit(flip(), shots=10)
                await job.wait_async(60)
                return job.job_id

        job_id = anyio.run(submit)
        rows: list[tuple[str, float]] = []

        logger.setLevel(logging.WARNING)
        telemetry.configure(enabled=False)
        rows.append(("off (baseline)", anyio.run(median_request, server.url, job_id, n)))

        import opentelemetry.trace  # noqa: F401  # the API alone: the no-op tracer

        telemetry.configure()
        rows.append(("API, no SDK", anyio.run(median_request, server.url, job_id, n)))

        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        meter_provider = MeterProvider()
        telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
        rows.append(("SDK (spans + counters)", anyio.run(median_request, server.url, job_id, n)))

        telemetry.configure(enabled=False)
        handler = logging.NullHandler()
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        rows.append(("DEBUG logs", anyio.run(median_request, server.url, job_id, n)))
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        meter_provider.shutdown()

    base = rows[0][1]
    print(f"{'mode':<24} {'ms/request':>10} {'ratio':>7}")
    print("-" * 43)
    for name, seconds in rows:
        print(f"{name:<24} {seconds * 1e3:>10.3f} {seconds / base:>7.2f}")
    print("-" * 43)
    print(f"median of {n} status requests per mode, one job, embedded server on loopback")


if __name__ == "__main__":
    main()
