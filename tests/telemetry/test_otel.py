"""OpenTelemetry: the spans and counters of a real job against the embedded server (SDK in-memory exporters).

The SDK's providers are handed to :func:`iqm_async.telemetry.configure` (not installed globally), so
no other test is traced. A subprocess checks that nothing is imported, or recorded, without them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, JobTimeoutError, PollPolicy, RateLimitPolicy, RetryPolicy, telemetry
from iqm_async.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
FAST = PollPolicy(first_delay=0.01, max_interval=0.05, per_queue_position=0.0, max_queued_interval=0.05)


def flip(name: str = "flip") -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name=name)
    qc.r(math.pi, 0.0, 0)
    qc.measure(0, 0)
    return qc


async def quick_sleep(delay: float) -> None:
    await anyio.sleep(min(delay, 0.01))  # the client's backoff and poll pauses, shortened


def client(server: RunningServer) -> AsyncIQMClient:
    return AsyncIQMClient(
        server.url,
        poll=FAST,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
        sleep=quick_sleep,
        rate_limit=RateLimitPolicy(enabled=False),
    )


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        telemetry.configure(tracer_provider=tracer_provider, meter_provider=self.meter_provider)

    def finished(self, name: str | None = None) -> list[Any]:
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    def counters(self) -> dict[str, list[tuple[dict[str, Any], int]]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[tuple[dict[str, Any], int]]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = [(dict(p.attributes), p.value) for p in metric.data.data_points]
        return out


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    try:
        yield recorder
    finally:
        telemetry.configure()  # back to automatic: off unless the application uses OpenTelemetry
        recorder.meter_provider.shutdown()


async def test_spans_and_counters_of_a_real_job(server: RunningServer, otel: Otel) -> None:
    async with client(server) as c:
        job = await c.submit([flip("a"), flip("b")], shots=10)
        server.state.faults.add(
            {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 1, "action": "status", "status": 503}
        )
        server.state.faults.add(
            {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 1, "action": "rate_limit", "retry_after": 0}
        )
        result = await job.result_async()
    assert result.get_counts(1) == {"1": 10}
    jid = job.job_id

    (submit,) = otel.finished("iqm_async.submit")
    assert dict(submit.attributes) == {
        "iqm.quantum_computer": "sim", "iqm.circuits": 2, "iqm.shots": 10, "iqm.job_id": jid, "iqm.outcome": "ok"
    }
    (wait,) = otel.finished("iqm_async.wait")
    assert wait.attributes["iqm.job_id"] == jid and wait.attributes["iqm.quantum_computer"] == "sim"
    assert wait.attributes["iqm.outcome"] == "completed" and wait.attributes["iqm.job_status"] == "completed"
    assert wait.attributes["iqm.polls"] >= 1

    http = [s for s in otel.finished() if s.kind is SpanKind.CLIENT]
    (post,) = [s for s in http if s.name == "POST /jobs/sim/circuit"]
    assert post.parent is not None and post.parent.span_id == submit.context.span_id  # the submit's own request
    assert post.attributes["http.response.status_code"] == 200 and post.attributes["iqm.outcome"] == "ok"
    polls = [s for s in http if s.name == "GET /jobs/{id}"]
    assert all(s.parent is not None and s.parent.span_id == wait.context.span_id for s in polls)
    assert all(s.attributes["iqm.job_id"] == jid and s.attributes["url.path"] == f"/jobs/{jid}" for s in polls)
    # The two faults: attempts 1 and 2 of one poll failed (503, then 429), attempt 3 succeeded.
    failed = [s for s in polls if s.status.status_code is StatusCode.ERROR]
    assert [(s.attributes["iqm.attempt"], s.attributes["http.response.status_code"], s.attributes["iqm.outcome"])
            for s in failed] == [(1, 503, "SystemUnavailableError"), (2, 429, "RateLimitError")]
    third = [s for s in polls if s.attributes["iqm.attempt"] == 3]
    assert len(third) == 1 and third[0].attributes["http.request.resend_count"] == 2
    assert third[0].attributes["iqm.outcome"] == "ok"
    assert any(s.name == "GET /jobs/{id}/artifacts/measurements" for s in http)

    counters = otel.counters()
    requests = sum(v for _, v in counters["iqm_async.requests"])
    assert requests == len(http)
    by_outcome = {attrs["iqm.outcome"]: v for attrs, v in counters["iqm_async.requests"]
                  if attrs["url.template"] == "/jobs/{id}"}
    assert by_outcome["SystemUnavailableError"] == 1 and by_outcome["RateLimitError"] == 1
    assert sum(v for _, v in counters["iqm_async.retries"]) == 2
    assert counters["iqm_async.rate_limited"] == [({"http.request.method": "GET", "url.template": "/jobs/{id}"}, 1)]
    assert counters["iqm_async.jobs"] == [({"iqm.job_status": "completed", "iqm.quantum_computer": "sim"}, 1)]


async def test_a_timed_out_wait_and_a_failed_job(server: RunningServer, otel: Otel) -> None:
    async with client(server) as c:
        server.state.hold()
        held = await c.submit(flip("held"), shots=5)
        with pytest.raises(JobTimeoutError):
            await held.wait_async(0.05)
        server.state.faults.add({"action": "fail_job", "after_circuits": 0, "message": "boom"})
        server.state.release()
        assert (await held.wait_async(30)).status == "failed"
    waits = otel.finished("iqm_async.wait")
    assert [w.attributes["iqm.outcome"] for w in waits] == ["timeout", "failed"]
    assert waits[0].status.status_code is StatusCode.ERROR and waits[0].attributes["error.type"] == "JobTimeoutError"
    assert otel.counters()["iqm_async.jobs"] == [({"iqm.job_status": "failed", "iqm.quantum_computer": "sim"}, 1)]


async def test_a_batch_names_itself_on_its_spans(server: RunningServer, otel: Otel) -> None:
    circuits = [flip(f"b{i}") for i in range(4)]
    async with client(server) as c, c.run_batch(circuits, shots=5, circuits_per_job=2, progress=False) as b:
        await b.results()
    submits = otel.finished("iqm_async.submit")
    assert len(submits) == 2 and {s.attributes["iqm.batch_id"] for s in submits} == {b.spec["batch_id"]}
    assert {s.attributes["iqm.job_id"] for s in submits} == set(b.job_ids)


def test_off_by_default() -> None:
    telemetry.configure(enabled=False)
    try:
        assert not telemetry.enabled()
    finally:
        telemetry.configure()


NO_OTEL = """
import asyncio, math, sys
from qiskit import QuantumCircuit
from iqm_async import AsyncIQMClient, telemetry
from iqm_async.server import serve_in_thread

qc = QuantumCircuit(1, 1); qc.r(math.pi, 0.0, 0); qc.measure(0, 0)

async def run(url):
    async with AsyncIQMClient(url) as client:
        return (await (await client.submit(qc, shots=5)).result_async()).get_counts()

with serve_in_thread(seed=3) as server:
    assert asyncio.run(run(server.url)) == {"1": 5}
    print("imported without use:", "opentelemetry" in sys.modules, telemetry.enabled())
    import opentelemetry.trace  # the API, but no SDK: the API's own no-op tracer, no span recorded
    assert asyncio.run(run(server.url)) == {"1": 5}
    op = telemetry.submitting("sim", 1, 5)
    with op:
        pass
    print("API only:", telemetry.enabled(), op._span is None)
"""


def test_nothing_is_imported_or_recorded_without_an_sdk() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IQM_", "OTEL_"))}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", NO_OTEL], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["imported without use: False False", "API only: True True"]
