"""Every client operation against every fault of the server's switchboard.

Each cell arms one fault on the embedded server, runs one client operation under a hang guard
(``anyio.fail_after``), and classifies what came out:

* ``recovered``: the operation returned the right value, as if nothing had happened;
* ``typed``: it raised the documented :mod:`iqm_async.errors` class (for a submit that may have reached
  the server: :class:`~iqm_async.errors.SubmissionUnknownError`);
* ``reported``: the job itself failed or was cancelled, and the operation said so in its return value
  (``JobStatus.ERROR``, ``cancel_async() is False``, a ``success=False`` result with a warning);
* ``n/a``: the fault cannot affect that operation (a job failing has no bearing on an architecture fetch).

Besides the outcome, every cell checks the two things a client must never do: run a job twice
(``jobs_created`` on the server equals the submits that got an id plus the ambiguous ones the fault
is known to have let through) and lose a result (after a typed error, the job's result is still
retrievable by its id, and every result that is returned is the right one).

The expected outcome of every cell is the table :data:`EXPECTED`; ``benchmarks/faults.py`` imports it
and :func:`run_cell` to print the matrix and its totals.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from iqm_async import AsyncIQMClient, PollPolicy
from iqm_async import errors as E
from iqm_async.server import RunningServer

# ---------------------------------------------------------------------------------------------- the table

Outcome = Literal["recovered", "typed", "reported", "n/a", "not built"]

OPERATIONS: tuple[str, ...] = (
    "submit",
    "status",
    "result: measurements",
    "result: payload",
    "cancel",
    "dqa",
    "batch: submits",
    "batch: reads",
)
"""Client operations: E4, E5, E7 (+E5), E6 (+E5, E7), E9 (+E5), E2, and a batch of three one-circuit jobs
(``client.run_batch``) with the fault on its submits (E4) or on its status polls and downloads (E5, E7)."""

BATCH_SIZE = 3
"""Circuits (one job each) in the batch cells."""

FAULTS: tuple[str, ...] = (
    "500",
    "502",
    "503",
    "504",
    "429 Retry-After",
    "429 no Retry-After",
    "drop",
    "drop after handling",
    "timeout",
    "malformed JSON",
    "missing fields",
    "unknown status",
    "job failed",
    "cancelled by other",
    "502 persistent",
    "drop persistent",
)
"""Faults. Transient ones apply to the next two matching requests (one for ``drop after handling`` and
``timeout``); the ``persistent`` ones apply until removed, so the retries run out."""

RETRY_AFTER = 1
"""Seconds of ``Retry-After`` in the 429 cells (obeyed through the injected, recording sleep)."""
REQUEST_TIMEOUT = 0.4
"""Per-request timeout of the client in the ``timeout`` cells."""
SERVER_DELAY = 1.0
"""How long the server sits on a request in the ``timeout`` cells (longer than the client's timeout)."""
CELL_TIMEOUT = 30.0
"""Hang guard around every cell."""
SHOTS = 16


@dataclass(frozen=True)
class Expect:
    """The documented outcome of one cell."""

    outcome: Outcome
    error: type[BaseException] | None = None
    """For ``typed``: the class that must be raised."""
    created: int = 0
    """For an ambiguous submit: how many jobs the fault let the server create (the client cannot know)."""
    item_error: type[BaseException] | None = None
    """For a batch raising ``BatchError``: the class of every failed item's error."""
    failed_items: int = 0
    """For a batch raising ``BatchError``: how many items failed (the others must have their results)."""
    note: str = ""


def _expected() -> dict[tuple[str, str], Expect]:
    table: dict[tuple[str, str], Expect] = {}
    transient = (
        "502",
        "503",
        "504",
        "429 Retry-After",
        "429 no Retry-After",
        "drop",
        "drop after handling",
        "timeout",
        "malformed JSON",
        "missing fields",
    )
    unknown = E.SubmissionUnknownError
    # submit (E4): re-sent only after a 429; everything else after the body left is ambiguous.
    for fault in FAULTS:
        table["submit", fault] = Expect("typed", unknown, note="not re-sent; the job may exist")
    table["submit", "429 Retry-After"] = Expect("recovered", note="re-sent after Retry-After")
    table["submit", "429 no Retry-After"] = Expect("recovered", note="re-sent after a backoff")
    table["submit", "drop after handling"] = Expect("typed", unknown, created=1, note="job created, reply lost")
    table["submit", "timeout"] = Expect("typed", unknown, created=1, note="server created the job after the timeout")
    for fault in ("unknown status", "job failed", "cancelled by other"):
        table["submit", fault] = Expect("n/a", note="happens after the submit (see status/result)")
    # reads and cancels: idempotent, retried on every transient fault; 500 is not retried (README).
    for op in ("status", "result: measurements", "result: payload", "cancel", "dqa"):
        table[op, "500"] = Expect("typed", E.InternalSystemError, note="500 is not retried")
        for fault in transient:
            table[op, fault] = Expect("recovered")
        table[op, "502 persistent"] = Expect("typed", E.BadGatewayError, note="after 6 attempts")
        table[op, "drop persistent"] = Expect("typed", E.ConnectError, note="after 6 attempts")
        table[op, "unknown status"] = Expect("recovered", note="treated as not finished, logged once")
    table["dqa", "unknown status"] = Expect("n/a", note="no job status involved")
    table["status", "job failed"] = Expect("reported", note="JobStatus.ERROR")
    table["status", "cancelled by other"] = Expect("reported", note="JobStatus.CANCELLED")
    for op in ("result: measurements", "result: payload"):
        # A wait rides out an outage until its own deadline, then says so (issue: waits outlast outages).
        table[op, "502 persistent"] = Expect("typed", E.JobTimeoutError, note="outage ridden out to the deadline")
        table[op, "drop persistent"] = Expect("typed", E.JobTimeoutError, note="outage ridden out to the deadline")
        table[op, "job failed"] = Expect("typed", E.JobFailedError, note="carries the server's errors[]")
        table[op, "cancelled by other"] = Expect("reported", note="success=False with a warning")
    table["cancel", "job failed"] = Expect("reported", note="cancel_async() is False: already ended")
    table["cancel", "cancelled by other"] = Expect("reported", note="cancel_async() is False: already ended")
    table["dqa", "job failed"] = Expect("n/a", note="no job involved")
    table["dqa", "cancelled by other"] = Expect("n/a", note="no job involved")
    # batch: per item, the same rules; BatchError lists the failed items, the others keep their results.
    batch = E.BatchError
    two = {"drop after handling": 1, "timeout": 1, "502 persistent": BATCH_SIZE, "drop persistent": BATCH_SIZE}
    for fault in FAULTS:
        hit = two.get(fault, 2)
        table["batch: submits", fault] = Expect(
            "typed", batch, item_error=unknown, failed_items=hit, note=f"{hit} submits ambiguous, never re-sent"
        )
    table["batch: submits", "429 Retry-After"] = Expect("recovered")
    table["batch: submits", "429 no Retry-After"] = Expect("recovered")
    for fault in ("drop after handling", "timeout"):
        table["batch: submits", fault] = Expect(
            "typed", batch, item_error=unknown, failed_items=1, created=1, note="1 job created, its reply lost"
        )
    for fault in ("unknown status", "job failed", "cancelled by other"):
        table["batch: submits", fault] = Expect("n/a", note="happens after the submit (see batch: reads)")
    for fault in transient:
        table["batch: reads", fault] = Expect("recovered")
    table["batch: reads", "500"] = Expect(
        "typed", batch, item_error=E.InternalSystemError, failed_items=2, note="500 is not retried"
    )
    table["batch: reads", "unknown status"] = Expect("recovered", note="treated as not finished")
    table["batch: reads", "job failed"] = Expect("typed", batch, item_error=E.JobFailedError, failed_items=1)
    table["batch: reads", "cancelled by other"] = Expect("typed", batch, item_error=E.JobCancelledError, failed_items=1)
    # A batch rides out an outage of its polls until its own deadline, then names the outage in each item's error.
    table["batch: reads", "502 persistent"] = Expect(
        "typed", batch, item_error=E.JobTimeoutError, failed_items=BATCH_SIZE, note="outage ridden out to the deadline"
    )
    table["batch: reads", "drop persistent"] = Expect(
        "typed", batch, item_error=E.JobTimeoutError, failed_items=BATCH_SIZE, note="outage ridden out to the deadline"
    )
    if importlib.util.find_spec("iqm_async.batch") is None:  # pragma: no cover - while batch.py is written
        for fault in FAULTS:
            for op in ("batch: submits", "batch: reads"):
                table[op, fault] = Expect("not built", note="iqm_async.batch is not there yet")
    return table


EXPECTED: dict[tuple[str, str], Expect] = _expected()
"""The documented outcome of every (operation, fault) cell."""

KNOWN_BUGS: dict[tuple[str, str], str] = {}
"""Cells whose current behaviour differs from :data:`EXPECTED` because of a bug filed in
``/work/requests_reliability.md`` (the test marks them ``xfail(strict=True)``)."""

# ---------------------------------------------------------------------------------------------- helpers


def expected_bits(index: int, width: int) -> str:
    """The Qiskit bitstring that :func:`pattern_circuit` always measures (qubit 0 rightmost)."""
    return format(index, f"0{width}b")


def pattern_circuit(index: int, width: int = 3, name: str | None = None) -> QuantumCircuit:
    """A circuit whose every shot measures ``index`` in binary: a result mix-up shows immediately."""
    qc = QuantumCircuit(width, width, name=name or f"pattern{index}")
    for bit in range(width):
        if index >> bit & 1:
            qc.x(bit)
    qc.measure(range(width), range(width))
    return qc


CIRCUIT_INDEX = 5
"""The pattern every cell's job measures (``101``)."""


class WarpSleep:
    """Records every delay the client asks for and sleeps only a fraction of it.

    The client's backoff, ``Retry-After`` waits, budget holds and poll intervals all go through the
    injected sleep, so a cell keeps the client's real schedule (and the test can check it) without
    spending wall-clock time on it.
    """

    def __init__(self, factor: float = 0.01, cap: float = 0.05):
        self.factor = factor
        self.cap = cap
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.sleep(min(seconds * self.factor, self.cap))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class CellReport:
    """What one cell did."""

    op: str
    fault: str
    outcome: str
    """``recovered``/``typed``/``reported``/``n/a``/``not built``, or ``UNTYPED <class>``/``WRONG <what>``/``HANG``."""
    error: BaseException | None = None
    faults_injected: int = 0
    jobs_created: int = 0
    jobs_expected: int = 0
    lost: int = 0
    """Results the client failed to give back (wrong, missing, or unrecoverable after a typed error)."""
    delays: list[float] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""

    @property
    def duplicates(self) -> int:
        """Jobs the server created beyond what the client submitted (or may have submitted)."""
        return max(0, self.jobs_created - self.jobs_expected)

    @property
    def error_name(self) -> str:
        """Class name of the error raised, or ``""``."""
        return type(self.error).__name__ if self.error is not None else ""


def _job_path(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def _fault_rules(fault: str, method: str, path: str) -> list[dict[str, Any]]:
    """Switchboard rules that inject ``fault`` into the requests matching (method, path)."""
    match = {"method": method, "path": path}
    simple: dict[str, dict[str, Any]] = {
        "500": {"action": "status", "status": 500, "times": 2},
        "502": {"action": "status", "status": 502, "times": 2},
        "503": {"action": "status", "status": 503, "times": 2},
        "504": {"action": "status", "status": 504, "times": 2},
        "429 Retry-After": {"action": "rate_limit", "retry_after": RETRY_AFTER, "times": 2},
        "429 no Retry-After": {"action": "status", "status": 429, "times": 2},
        "drop": {"action": "drop", "times": 2},
        "drop after handling": {"action": "drop", "after_handling": True, "times": 1},
        "timeout": {"action": "delay", "delay_s": SERVER_DELAY, "times": 1},
        "malformed JSON": {"action": "malformed_json", "times": 2},
        "502 persistent": {"action": "status", "status": 502, "times": None},
        "drop persistent": {"action": "drop", "times": None},
    }
    if fault in simple:
        return [{"match": match, **simple[fault]}]
    if fault == "missing fields":
        body = _MISSING_FIELDS_BODY.get(path.rsplit("/", 1)[-1], {"type": "circuit", "status": "waiting"})
        return [{"match": match, "action": "status", "status": 200, "body": body, "times": 2}]
    raise ValueError(f"no switchboard rule for {fault!r}")


_MISSING_FIELDS_BODY: dict[str, dict[str, Any]] = {
    # A 200 whose JSON lacks what the client needs, per endpoint (keyed by the last path segment).
    "circuit": {"type": "circuit", "status": "waiting"},  # JobData without "id"
    "measurements": {"measurement_keys": []},  # an object where the per-circuit list belongs
    "payload": {"shots": SHOTS},  # a definition without "circuits"
    "cancel": {},  # ignored by protocol: any 2xx accepts a cancel
    "dynamic-quantum-architecture": {"qubits": ["QB1"]},  # no calibration_set_id, no gates
}


def _unknown_status_rule(job_id: str, times: int) -> dict[str, Any]:
    body = {"id": job_id, "type": "circuit", "status": "compiling", "queue_position": None}
    return {
        "match": {"method": "GET", "path": _job_path(job_id)},
        "action": "status",
        "status": 200,
        "body": body,
        "times": times,
    }


class Cell:
    """Runs one (operation, fault) cell against a server that the caller has just reset."""

    def __init__(self, server: RunningServer, op: str, fault: str):
        self.server = server
        self.state = server.state
        self.op = op
        self.fault = fault
        self.expect = EXPECTED[op, fault]
        self.sleep = WarpSleep()
        self.report = CellReport(op, fault, "n/a")
        self.jobs_expected = 0
        self.injected_earlier = 0
        self.poll = PollPolicy(first_delay=0.05, max_interval=0.5, per_queue_position=0.05)
        # A wait rides out a persistent outage until its deadline: keep that deadline short in those cells.
        self.wait_limit = 2.0 if fault.endswith("persistent") else CELL_TIMEOUT

    # ------------------------------------------------------------------ clients

    def victim(self) -> AsyncIQMClient:
        """The client under test: recording sleep, and a short request timeout in the timeout cells."""
        timeout = REQUEST_TIMEOUT if self.fault == "timeout" else None
        return AsyncIQMClient(self.server.url, sleep=self.sleep, timeout=timeout, poll=self.poll)

    def helper(self) -> AsyncIQMClient:
        """Another client: sets jobs up, cancels "as someone else", and checks results afterwards."""
        return AsyncIQMClient(self.server.url, poll=self.poll)

    # ------------------------------------------------------------------ faults

    def clear_faults(self) -> None:
        """Remove every rule, keeping count of the faults they injected."""
        self.injected_earlier += self.state.faults.injected
        self.state.faults.clear()

    def arm(self, method: str, path: str) -> None:
        for rule in _fault_rules(self.fault, method, path):
            self.state.faults.add(rule)

    async def setup_job(self, helper: AsyncIQMClient, *, hold: bool, complete: bool = False) -> str:
        if hold:
            self.state.hold()
        job = await helper.submit(pattern_circuit(CIRCUIT_INDEX), shots=SHOTS)
        self.jobs_expected += 1
        if complete:
            await job.wait_async(timeout_seconds=CELL_TIMEOUT)
        return job.job_id

    # ------------------------------------------------------------------ checks

    def counts_ok(self, counts: dict[str, int], index: int = CIRCUIT_INDEX) -> bool:
        return counts == {expected_bits(index, 3): SHOTS}

    async def recoverable(self, job_id: str, index: int = CIRCUIT_INDEX) -> bool:
        """After a typed error: with the faults gone, is the job's result (or final state) still there?"""
        self.clear_faults()
        self.state.release()
        async with self.helper() as helper:
            job = helper.job(job_id)
            data = await job.wait_async(timeout_seconds=CELL_TIMEOUT)
            if data.status == "completed":
                return self.counts_ok((await job.result_async()).get_counts(), index)
            return data.status in ("failed", "cancelled")

    # ------------------------------------------------------------------ operations

    async def run(self) -> CellReport:
        if self.expect.outcome in ("n/a", "not built"):
            self.report.outcome = self.expect.outcome
            return self.report
        started = time.monotonic()
        records = _Records()
        logger = logging.getLogger("iqm_async")
        logger.addHandler(records)
        try:
            with anyio.fail_after(CELL_TIMEOUT):
                await getattr(self, "op_" + self.op.split(":")[0].strip())()
        except TimeoutError:
            self.report.outcome = "HANG"
        finally:
            logger.removeHandler(records)
        self.report.seconds = time.monotonic() - started
        self.report.delays = list(self.sleep.delays)
        if self.fault == "unknown status" and self.report.outcome == "recovered":
            warned = [r for r in records.records if r.levelno == logging.WARNING and "compiling" in r.getMessage()]
            jobs = BATCH_SIZE if self.op.startswith("batch") else 1
            if len(warned) != jobs:  # once per job and status string
                self.report.outcome = f"WRONG unknown status logged {len(warned)} times"
        stats = self.state.stats()
        self.report.faults_injected = self.injected_earlier + stats["faults_injected"]
        self.report.jobs_created = stats["jobs_created"]
        self.report.jobs_expected = self.jobs_expected
        return self.report

    async def classify(self, call: Callable[[], Awaitable[Any]], check: Callable[[Any], str]) -> Any:
        """Run the operation; set the outcome from its value (``check`` returns "" when right) or error."""
        try:
            value = await call()
        except E.IQMError as exc:
            self.report.outcome = "typed"
            self.report.error = exc
            return exc
        except Exception as exc:  # the point of the matrix: nothing but IQMError may come out
            self.report.outcome = f"UNTYPED {type(exc).__module__}.{type(exc).__name__}"
            self.report.error = exc
            return exc
        problem = check(value)
        self.report.outcome = f"WRONG {problem}" if problem else ("reported" if self.reported else "recovered")
        return value

    @property
    def reported(self) -> bool:
        return self.fault in ("job failed", "cancelled by other") and not self.op.startswith("batch")

    def typed_error_ok(self, job_id: str | None) -> None:
        """A typed error must be the expected class and name the job it concerns."""
        exc = self.report.error
        if self.report.outcome != "typed" or exc is None:
            return
        if self.expect.error is not None and not isinstance(exc, self.expect.error):
            self.report.outcome = f"typed {type(exc).__name__}"
            return
        if job_id is not None and getattr(exc, "job_id", None) != job_id:
            self.report.detail = f"{type(exc).__name__} does not carry job_id"
            self.report.outcome = "WRONG error without job_id"

    async def op_submit(self) -> None:
        async with self.victim() as victim:
            await victim.dynamic_architecture()  # only the submit itself meets the fault
            self.arm("POST", "/api/v1/jobs/sim/circuit")

            async def call() -> Any:
                return await victim.submit(pattern_circuit(CIRCUIT_INDEX), shots=SHOTS)

            value = await self.classify(call, lambda job: "")
            if self.report.outcome == "recovered":
                self.jobs_expected += 1
                if not self.counts_ok((await value.result_async(timeout_seconds=CELL_TIMEOUT)).get_counts()):
                    self.report.lost += 1
            elif isinstance(value, E.SubmissionUnknownError):
                self.jobs_expected += self.expect.created
                if self.expect.created:
                    # The server finishes the request on its own time (timeout cell): wait for the job, not the clock.
                    self.state.wait_for(lambda: self.state.store.jobs_created >= self.jobs_expected, timeout=10)
            self.typed_error_ok(None)
            posts = [r for r in self.state.requests() if r.method == "POST"]
            resent_ok = self.fault.startswith("429")
            if not resent_ok and len(posts) != 1:
                self.report.outcome = f"WRONG submit sent {len(posts)} times"

    async def op_status(self) -> None:
        async with self.helper() as helper, self.victim() as victim:
            await victim.quantum_computer()
            expected = JobStatus.QUEUED
            if self.fault == "job failed":
                self.state.faults.add({"action": "fail_job", "message": "injected failure", "error_code": "boom"})
                job_id = await self.setup_job(helper, hold=False)
                self.state.wait_for_status(job_id, "failed", timeout=CELL_TIMEOUT)
                expected = JobStatus.ERROR
            else:
                job_id = await self.setup_job(helper, hold=True)
            if self.fault == "cancelled by other":
                await helper.job(job_id).cancel_async()
                expected = JobStatus.CANCELLED
            elif self.fault == "unknown status":
                self.state.faults.add(_unknown_status_rule(job_id, times=3))
            elif self.fault != "job failed":
                self.arm("GET", _job_path(job_id))
            job = victim.job(job_id)
            await self.classify(
                job.status_async, lambda s: "" if s == expected else f"status {s} instead of {expected}"
            )
            if self.fault == "unknown status" and self.report.outcome == "recovered":
                seen = [await job.status_async() for _ in range(3)]  # two more "compiling", then the real one
                if seen != [JobStatus.QUEUED] * 3:
                    self.report.outcome = f"WRONG statuses {seen}"
            self.typed_error_ok(job_id)
            await self.check_not_lost(job_id)

    async def op_result(self) -> None:
        target = "/artifacts/measurements" if self.op == "result: measurements" else "/payload"
        async with self.helper() as helper, self.victim() as victim:
            await victim.quantum_computer()
            if self.fault == "job failed":
                self.state.faults.add({"action": "fail_job", "message": "injected failure", "error_code": "boom"})
            hold = self.fault == "cancelled by other"
            job_id = await self.setup_job(helper, hold=hold, complete=not hold)
            job = victim.job(job_id)  # re-attached: the payload (E6) must be fetched too
            if self.fault == "unknown status":
                self.state.faults.add(_unknown_status_rule(job_id, times=3))
            elif not self.reported:
                self.arm("GET", _job_path(job_id) + target)

            async def call() -> Any:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = await job.result_async(timeout_seconds=self.wait_limit)
                warned.extend(str(w.message) for w in caught)
                return result

            warned: list[str] = []

            def check(result: Any) -> str:
                if self.fault == "cancelled by other":
                    if not any("cancelled" in w for w in warned):
                        return "a cancelled job's result came without a warning"
                    return "" if result.success is False and result.results == [] else "cancelled job with data"
                if not self.counts_ok(result.get_counts()):
                    self.report.lost += 1
                    return f"counts {result.get_counts()}"
                return ""

            if self.fault == "cancelled by other":
                async with anyio.create_task_group() as tg:
                    waiting = anyio.Event()
                    box: list[Any] = []

                    async def wait_for_result() -> None:
                        await job.status_async()  # the victim has seen the job waiting ...
                        waiting.set()
                        box.append(await self.classify(call, check))  # ... and waits for its result

                    tg.start_soon(wait_for_result)
                    await waiting.wait()
                    await helper.job(job_id).cancel_async()  # someone else cancels it meanwhile
            else:
                await self.classify(call, check)
            failure = {"message": "injected failure", "error_code": "boom", "source": "iqm-server"}
            error = self.report.error
            if self.fault == "job failed" and isinstance(error, E.JobFailedError) and error.errors[:1] != [failure]:
                self.report.outcome = "WRONG JobFailedError without the server's errors"
            self.typed_error_ok(job_id)
            await self.check_not_lost(job_id)

    async def op_cancel(self) -> None:
        async with self.helper() as helper, self.victim() as victim:
            await victim.quantum_computer()
            expect_true = True
            if self.fault == "job failed":
                self.state.faults.add({"action": "fail_job", "message": "injected failure", "error_code": "boom"})
                job_id = await self.setup_job(helper, hold=False)
                self.state.wait_for_status(job_id, "failed", timeout=CELL_TIMEOUT)
                expect_true = False
            else:
                job_id = await self.setup_job(helper, hold=True)
            if self.fault == "cancelled by other":
                await helper.job(job_id).cancel_async()
                expect_true = False
            elif self.fault == "unknown status":
                self.state.faults.add(_unknown_status_rule(job_id, times=1))
            elif self.fault != "job failed":
                self.arm("POST", _job_path(job_id) + "/cancel")
            job = victim.job(job_id)

            def check(ok: bool) -> str:
                if ok is not expect_true:
                    return f"cancel_async() returned {ok}"
                status = self.state.store.status(job_id)
                if expect_true and status != "cancelled":
                    return f"cancel_async() returned True but the job is {status!r}"
                return ""

            await self.classify(job.cancel_async, check)
            self.typed_error_ok(job_id)
            await self.check_not_lost(job_id)

    async def op_dqa(self) -> None:
        async with self.victim() as victim:
            await victim.quantum_computer()
            self.arm("GET", "/api/v1/calibration-sets/*")
            default = self.state.config.calibration_set_id

            def check(dqa: Any) -> str:
                ok = dqa.calibration_set_id == default and len(dqa.qubits) == self.state.config.qubits
                return "" if ok else f"architecture {dqa.calibration_set_id} with {len(dqa.qubits)} qubits"

            await self.classify(victim.dynamic_architecture, check)
            self.typed_error_ok(None)

    async def op_batch(self) -> None:
        reads = self.op == "batch: reads"
        indices = list(range(1, BATCH_SIZE + 1))
        circuits = [pattern_circuit(i, name=f"b{i}") for i in indices]
        later = self.fault in ("unknown status", "cancelled by other")  # armed once the jobs exist
        async with self.helper() as helper, self.victim() as victim:
            await victim.dynamic_architecture()
            if not reads:
                self.arm("POST", "/api/v1/jobs/sim/circuit")
            elif self.fault == "job failed":
                self.state.faults.add({"action": "fail_job", "message": "injected failure", "error_code": "boom"})
            elif not later:
                self.arm("GET", "/api/v1/jobs/*")
            if later:
                self.state.hold()
            batch = victim.run_batch(
                circuits, shots=SHOTS, circuits_per_job=1, progress=False, timeout_seconds=self.wait_limit
            )

            def check(results: list[Any]) -> str:
                wrong = [i for i, r in zip(indices, results) if r.counts != {expected_bits(i, 3): SHOTS}]
                self.report.lost += len(wrong)
                return f"wrong results for circuits {wrong}" if wrong else ""

            async with anyio.create_task_group() as tg:
                tg.start_soon(self.classify, batch.results, check)
                if later:
                    created = await anyio.to_thread.run_sync(
                        lambda: self.state.wait_for(lambda: self.state.store.jobs_created == BATCH_SIZE, 10)
                    )
                    ids = self.state.store.job_ids()
                    if not created:
                        self.report.outcome = "WRONG the batch did not submit its jobs"
                    elif self.fault == "unknown status":
                        for job_id in ids:
                            self.state.faults.add(_unknown_status_rule(job_id, times=3))
                    else:
                        await helper.job(ids[0]).cancel_async()  # someone else cancels one of the batch's jobs
                    self.state.release()
            self.jobs_expected += len(batch.job_ids)
            await self.check_batch_items()

    async def check_batch_items(self) -> None:
        """Failed items: the documented class and count; the others' results right; nothing unrecoverable."""
        error = self.report.error
        if self.report.outcome != "typed" or not isinstance(error, E.BatchError):
            return
        failures = error.failures
        if self.expect.item_error is not None and not all(
            isinstance(f.error, self.expect.item_error) for f in failures
        ):
            self.report.outcome = "WRONG item errors " + ", ".join(sorted({type(f.error).__name__ for f in failures}))
        if len(failures) != self.expect.failed_items:
            self.report.outcome = f"WRONG {len(failures)} items failed"
        for index, value in enumerate(error.results):
            if not isinstance(value, Exception) and value.counts != {expected_bits(index + 1, 3): SHOTS}:
                self.report.lost += 1
        unknown = [f for f in failures if isinstance(f.error, E.SubmissionUnknownError)]
        self.jobs_expected += self.expect.created if unknown else 0
        if self.expect.created:
            self.state.wait_for(lambda: self.state.store.jobs_created >= self.jobs_expected, timeout=10)
        for failure in failures:
            if failure.job_id is not None:
                if getattr(failure.error, "job_id", None) != failure.job_id:
                    self.report.outcome = f"WRONG {type(failure.error).__name__} without job_id"
                await self.check_not_lost(failure.job_id, failure.index + 1)

    async def check_not_lost(self, job_id: str, index: int = CIRCUIT_INDEX) -> None:
        """After any outcome, the job's result (or its final failed/cancelled state) must be retrievable."""
        try:
            ok = await self.recoverable(job_id, index)
        except Exception as exc:
            ok = False
            self.report.detail += f" recovery failed: {type(exc).__name__}: {exc}"
        if not ok:
            self.report.lost += 1


async def run_cell(server: RunningServer, op: str, fault: str) -> CellReport:
    """Run one cell against ``server`` (reset first) and return what happened."""
    server.state.release()
    server.state.reset()
    try:
        return await Cell(server, op, fault).run()
    finally:
        server.state.release()


def outcome_matches(report: CellReport, expect: Expect) -> bool:
    """True when a cell did what the table says (typed cells: the right class too)."""
    if report.outcome != expect.outcome:
        return False
    if expect.outcome == "typed" and expect.error is not None:
        return isinstance(report.error, expect.error)
    return True


# ---------------------------------------------------------------------------------------------- tests

_CELLS = [
    pytest.param(
        op,
        fault,
        id=f"{op}|{fault}".replace(" ", "_").replace(":", ""),
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[op, fault])] if (op, fault) in KNOWN_BUGS else [],
    )
    for op in OPERATIONS
    for fault in FAULTS
]


@pytest.mark.parametrize(("op", "fault"), _CELLS)
async def test_cell(server: RunningServer, op: str, fault: str) -> None:
    expect = EXPECTED[op, fault]
    if expect.outcome == "not built":
        pytest.skip(expect.note)
    report = await run_cell(server, op, fault)
    if expect.outcome == "n/a":
        assert report.outcome == "n/a"
        return
    assert report.outcome != "HANG", f"{op} under {fault} did not finish within {CELL_TIMEOUT} s"
    assert outcome_matches(report, expect), (
        f"{op} under {fault}: expected {expect.outcome} {expect.error.__name__ if expect.error else ''}, got "
        f"{report.outcome} {report.error!r} {report.detail}"
    )
    assert report.duplicates == 0, f"{report.jobs_created} jobs created for {report.jobs_expected} submits"
    assert report.jobs_created == report.jobs_expected
    assert report.lost == 0, report.detail
    if fault not in ("job failed", "cancelled by other", "unknown status"):
        assert report.faults_injected >= 1, "the fault never fired: the cell tested nothing"
    if fault == "429 Retry-After" and report.outcome == "recovered":
        assert max(report.delays) >= RETRY_AFTER, f"Retry-After not obeyed: delays {report.delays}"
    if fault.endswith("persistent"):
        # Reads: every job's request retried up to the attempt cap (6), no more. Submits: never re-sent.
        requests = {"submit": 1, "batch: submits": BATCH_SIZE, "batch: reads": BATCH_SIZE}.get(op, 1)
        attempts = 1 if op in ("submit", "batch: submits") else 6
        if op.startswith("result") or op == "batch: reads":
            # A wait keeps trying (each try with its HTTP retries) until its deadline, paced by the outage backoff.
            assert report.faults_injected >= attempts, "the wait gave up before its deadline"
            assert "could not be reached" in str(report.error) or "could not be reached" in report.detail
        else:
            assert report.faults_injected == requests * attempts, "retried more or less than the policy says"


def test_table_covers_every_cell() -> None:
    assert set(EXPECTED) == {(op, fault) for op in OPERATIONS for fault in FAULTS}
    for expect in EXPECTED.values():
        if expect.outcome == "typed":
            assert expect.error is not None and issubclass(expect.error, E.IQMError)
