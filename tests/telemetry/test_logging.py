"""Structured logging: documented logger names, the same ``extra`` fields on every job and request record, no token.

Runs real jobs against the embedded server and inspects the records with ``caplog``.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy, RetryPolicy
from iqm_async._logging import FIELDS, LEVEL_ENV, configure_from_env, fields
from iqm_async.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
FAST = PollPolicy(first_delay=0.01, max_interval=0.05, per_queue_position=0.0, max_queued_interval=0.05)
QUICK_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.02)
TOKEN = "tok-" + "s3cr3t" * 6
OURS = ("iqm_async.http", "iqm_async.job", "iqm_async.batch")


def flip(name: str = "flip") -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name=name)
    qc.r(math.pi, 0.0, 0)
    qc.measure(0, 0)
    return qc


def client(server: RunningServer) -> AsyncIQMClient:
    return AsyncIQMClient(
        server.url, token=TOKEN, poll=FAST, retry=QUICK_RETRY, rate_limit=RateLimitPolicy(enabled=False)
    )


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in OURS]


async def test_every_record_of_a_job_carries_the_structured_fields(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="iqm_async")
    async with client(server) as c:
        job = await c.submit(flip(), shots=10)
        await job.result_async()
    records = ours(caplog)
    assert records
    for record in records:  # every field present on every record, None where it does not apply
        missing = [name for name in FIELDS if not hasattr(record, name)]
        assert not missing, (record.name, record.getMessage(), missing)
        assert record.batch_id is None

    http = [r for r in records if r.name == "iqm_async.http"]
    assert {(r.method, r.path) for r in http} >= {
        ("POST", "/jobs/sim/circuit"),
        ("GET", f"/jobs/{job.job_id}"),
        ("GET", f"/jobs/{job.job_id}/artifacts/measurements"),
    }
    for r in http:
        assert r.levelno == logging.DEBUG and r.status == 200 and r.attempt == 1
        assert isinstance(r.elapsed, float) and r.elapsed >= 0
    polls = [r for r in http if r.path == f"/jobs/{job.job_id}"]
    assert polls and all(r.job_id == job.job_id for r in polls)

    jobs = [r for r in records if r.name == "iqm_async.job"]
    submitted = [r for r in jobs if r.getMessage().startswith("submitted job")]
    assert len(submitted) == 1 and submitted[0].levelno == logging.INFO and submitted[0].job_id == job.job_id
    ended = [r for r in jobs if r.getMessage().startswith(f"job {job.job_id} is completed")]
    assert len(ended) == 1 and ended[0].job_status == "completed" and ended[0].elapsed is not None


async def test_a_retry_is_logged_with_its_attempt_and_status(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iqm_async")
    async with client(server) as c:
        job = await c.submit(flip(), shots=5)
        server.state.faults.add(
            {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 1, "action": "status", "status": 503}
        )
        assert (await job.wait_async(30)).status == "completed"
    retries = [r for r in ours(caplog) if "retrying in" in r.getMessage()]
    assert len(retries) == 1
    (r,) = retries
    assert (r.name, r.levelno, r.method, r.path, r.status, r.attempt, r.job_id) == (
        "iqm_async.http", logging.INFO, "GET", f"/jobs/{job.job_id}", 503, 1, job.job_id
    )


async def test_batch_records_and_requests_name_the_batch(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="iqm_async")
    async with client(server) as c:
        async with c.run_batch([flip(f"b{i}") for i in range(4)], shots=5, circuits_per_job=2, progress=False) as b:
            await b.results()
        batch_id = b.spec["batch_id"]
        in_batch = ours(caplog)
        caplog.clear()
        other = await c.submit(flip("alone"), shots=5)
        await other.wait_async(30)
    polls = [r for r in in_batch if r.name == "iqm_async.http" and r.job_id in b.job_ids]
    assert polls and all(r.batch_id == batch_id for r in polls)
    submits = [r for r in in_batch if r.getMessage().startswith("submitted job")]
    assert len(submits) == 2 and all(r.batch_id == batch_id for r in submits)
    assert {r.job_id for r in submits} == set(b.job_ids)
    # The batch id stays with the batch's tasks: nothing sent after it names it.
    assert ours(caplog) and all(r.batch_id is None for r in ours(caplog))


async def test_the_token_is_never_in_a_record(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(server) as c:
        server.state.faults.add({"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 2, "action": "drop"})
        job = await c.submit(flip(), shots=5)
        await job.result_async(30)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert TOKEN not in text


def test_log_level_env_sets_the_level_and_a_fallback_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("iqm_async")
    saved_level, saved_handlers = logger.level, list(logger.handlers)
    try:
        assert configure_from_env({}) is None and logger.level == saved_level
        assert configure_from_env({LEVEL_ENV: "debug"}) == logging.DEBUG and logger.level == logging.DEBUG
        assert configure_from_env({LEVEL_ENV: "30"}) == logging.WARNING
        assert sum(type(h).__name__ == "_FallbackHandler" for h in logger.handlers) == 1  # never added twice
        with pytest.warns(RuntimeWarning, match="not a log level"):
            assert configure_from_env({LEVEL_ENV: "loud"}) is None
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(saved_level)
        logger.handlers[:] = saved_handlers


SCRIPT = """
import logging, sys
import iqm_async
from iqm_async._logging import fields
if sys.argv[1] == "configured":
    logging.basicConfig(stream=sys.stderr, format="APP %(name)s %(message)s", level=logging.DEBUG)
logging.getLogger("iqm_async.http").debug("GET /x -> 200", extra=fields(method="GET", path="/x", status=200, attempt=1))
logging.getLogger("iqm_async.job").info("quiet at INFO?")
"""


@pytest.mark.parametrize("mode", ["plain", "configured"])
def test_log_level_env_is_read_on_import_and_shows_records_once(mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IQM_")}
    env.update(PYTHONPATH=str(ROOT), **{LEVEL_ENV: "DEBUG"})
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    if mode == "plain":  # no logging configured: our fallback handler writes, with the fields
        assert len(lines) == 2, out.stderr
        assert lines[0].endswith("DEBUG iqm_async.http: GET /x -> 200 [method=GET path=/x status=200 attempt=1]")
        assert lines[1].endswith("INFO iqm_async.job: quiet at INFO?")
    else:  # the application's handler only, each record once
        assert lines == ["APP iqm_async.http GET /x -> 200", "APP iqm_async.job quiet at INFO?"], out.stderr


def test_fields_always_has_every_name() -> None:
    assert tuple(fields()) == FIELDS
    assert fields(elapsed=1.23456789)["elapsed"] == 1.234568


async def test_outage_warnings_carry_the_job_id(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="iqm_async")

    async def sleep(delay: float) -> None:
        await anyio.sleep(min(delay, 0.01))

    async with AsyncIQMClient(
        server.url, poll=FAST, retry=RetryPolicy(max_attempts=1), sleep=sleep, rate_limit=RateLimitPolicy(enabled=False)
    ) as c:
        job = await c.submit(flip(), shots=5)
        server.state.faults.add(
            {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 2, "action": "status", "status": 502}
        )
        await job.wait_async(30)
    outage = [r for r in ours(caplog) if "cannot be reached" in r.getMessage() or "answers again" in r.getMessage()]
    assert len(outage) == 2 and all(r.name == "iqm_async.job" and r.job_id == job.job_id for r in outage)
