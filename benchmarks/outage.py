"""Outages in front of the server: how soon after it returns the caller holds its result, and what the wait cost.

A fault proxy of the test suite (:mod:`tests.faultproxy`) sits between the client and an embedded server
and, for an outage of 5, 30, 120 or 600 seconds, refuses connections (``refuse``: a crashed server or a
closed port) or answers every request with nginx's ``502 Bad Gateway`` HTML page (``html502``). Three
scenarios meet the outage, each with its own server, proxy and client (default policies):

* ``single``: one job, submitted before the outage, waited for with ``job.result_async(timeout_seconds=3600)``;
* ``batch-reads``: ``run_batch`` of 20 one-circuit jobs, all submitted before the outage, so its polls
  and downloads meet it;
* ``batch-submits``: ``run_batch`` of 20 one-circuit jobs started when the outage starts, so its submits
  meet it (the architecture is prefetched and passed as ``calibration_set_id=``, so the plan sends nothing).

The server holds every job until the outage starts and finishes them right after: each result is ready
on the server during the outage, so "result after return" is how long the caller keeps waiting after the
path to the server is healthy again (for a batch: p50 and max over its 20 circuits; ``batch-submits`` also
includes submitting and running the jobs after the return). "Requests" are the HTTP requests the client
sent from the start to the end of the outage, counted by an httpx transport wrapped around the client's.

Clocks: ``real`` outages last that many seconds of wall time. ``virtual`` ones run the client on an
injected clock and sleep (``AsyncIQMClient(sleep=..., clock=...)``): a sleep moves the clock instead of
waiting, and the outage ends at exactly its virtual second, so 600 s cost about a second of wall time.
The server's rate limiter runs on the same clock. 5 s and 30 s run on both clocks, side by side.

Baseline (computed, not run): a naive client that polls every job (or retries every submit) once a second
holds its result at most 1 s after the return and sends jobs x outage-seconds requests; the table prints
our requests over its requests.

IQM's own client (iqm-client 36, ``/work/iqm-venv/bin/python``, or ``--iqm-python``) runs the single-job
scenario in a subprocess through the same proxy for the real-time outages: ``IQMClient.submit_circuits``
then ``wait_for_completion()`` (its default 1 s polling) and ``result_counts()``. Its row says whether it
survived, and if not, how long into the outage it gave up and with what.

    python benchmarks/outage.py                 # everything (about 3 minutes of wall time)
    python benchmarks/outage.py --quick         # virtual time only (seconds)
    python benchmarks/outage.py --lengths 5,30,120,600

Exits non-zero if a result was wrong or lost unexpectedly, or a circuit ran twice.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iqm_async import AsyncIQMClient, SubmissionUnknownError  # noqa: E402
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402
from tests.helpers import pattern, pattern_outcome  # noqa: E402

SHOTS = 16
BATCH = 20
MODES = ("refuse", "html502")
REAL_LENGTHS = (5, 30)
"""Outage lengths run in real time (when asked for); the others run on virtual time only."""
QUIET = 0.005
"""Real seconds after an HTTP request (start or end) during which the virtual clock does not jump."""
DEFAULT_IQM_PYTHON = os.environ.get("IQM_OFFICIAL_PYTHON", "/work/iqm-venv/bin/python")


# ------------------------------------------------------------------------------------------ clocks


class VirtualTime:
    """A clock and sleep for the client: a sleep moves the clock instead of waiting (thread-safe).

    As in the end-to-end outage tests: the clock jumps to the earliest wake-up any sleeper asked for, so
    concurrent sleepers sleep side by side. Two additions for measuring: :meth:`at` schedules a callback
    at an exact virtual time (the clock never jumps past a due callback, so an outage ends on its
    second), and :attr:`frozen` stops jumps while the server finishes jobs in real time. And the clock
    does not jump while an HTTP request is under way or within :data:`QUIET` real seconds of one
    (:meth:`request_started` / :meth:`request_ended`): a sleeper must not move the clock by seconds
    while another task is still receiving a reply or about to schedule its next step, or the virtual
    figures would include waits no real client has.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen = False
        self._lock = threading.RLock()
        self._pending: list[float] = []
        self._events: list[tuple[float, Callable[[], None]]] = []
        self._busy = 0
        self._last_activity = 0.0

    def clock(self) -> float:
        """Real monotonic time plus every second the clock was moved on."""
        return time.monotonic() + self.offset

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the clock reaches ``when`` (the clock stops there first)."""
        with self._lock:
            self._events.append((when, callback))
            self._events.sort(key=lambda e: e[0])

    def request_started(self) -> None:
        """Note that an HTTP request is under way (the clock holds still until it ends)."""
        with self._lock:
            self._busy += 1
            self._last_activity = time.monotonic()

    def request_ended(self) -> None:
        """Note that an HTTP request has ended."""
        with self._lock:
            self._busy -= 1
            self._last_activity = time.monotonic()

    def _may_jump(self) -> bool:
        return not self.frozen and self._busy == 0 and time.monotonic() - self._last_activity >= QUIET

    def fire_due(self) -> None:
        """Run the callbacks whose time has come (also called by sleepers as they move the clock)."""
        with self._lock:
            while self._events and self._events[0][0] <= self.clock():
                _, callback = self._events.pop(0)
                callback()

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has reached now + ``seconds``, moving it there if no sleeper wakes earlier."""
        with self._lock:
            target = self.clock() + max(0.0, seconds)
            self._pending.append(target)
        try:
            while True:
                with self._lock:
                    self.fire_due()
                    now = self.clock()
                    if now >= target:
                        return
                    if target <= min(self._pending) and self._may_jump():
                        goal = min(target, self._events[0][0]) if self._events else target
                        if goal > now:
                            self.offset += goal - now
                        self.fire_due()
                await anyio.sleep(0.001)
        finally:
            with self._lock:
                self._pending.remove(target)


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the client's httpx transport and notes, on the client's clock, when each request is sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Callable[[], float], vt: VirtualTime | None = None):
        self._inner = inner
        self._clock = clock
        self._vt = vt
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Count the request, then send it (holding a virtual clock still meanwhile)."""
        self.sent.append(self._clock())
        if self._vt is None:
            return await self._inner.handle_async_request(request)
        self._vt.request_started()
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()  # the body too: the clock must not jump while it is on its way
            return response
        finally:
            self._vt.request_ended()

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


# ------------------------------------------------------------------------------------------ one run


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    mode: str
    length: int
    clock: str
    jobs: int
    latencies: list[float] = field(default_factory=list)
    requests: int | None = None
    outcome: str = ""
    ok: bool = True
    note: str = ""


class Env:
    """A server, a proxy and a clock for one scenario at one outage; starts and ends the outage."""

    def __init__(self, server: RunningServer, mode: str, length: int, vt: VirtualTime | None):
        self.server = server
        self.mode = mode
        self.length = length
        self.vt = vt
        self.proxy = FaultProxy(("127.0.0.1", server.port))
        self.clock: Callable[[], float] = vt.clock if vt else time.monotonic
        self.sleep: Callable[[float], Awaitable[None]] = vt.sleep if vt else anyio.sleep
        self.counter = CountingTransport(httpx.AsyncHTTPTransport(), self.clock, vt)
        self.t_start = 0.0
        self.t_return = 0.0
        self.returned = anyio.Event()

    def client(self) -> AsyncIQMClient:
        """A client with default policies, through the proxy, on this run's clock, counting its requests."""
        return AsyncIQMClient(self.proxy.url, sleep=self.sleep, clock=self.clock, http_transport=self.counter)

    async def begin(self, finish_jobs: int = 0) -> None:
        """Start the outage; let the server finish ``finish_jobs`` held jobs while it lasts."""
        if self.mode != "none":
            self.proxy.set_mode(self.mode)  # type: ignore[arg-type]
        self.t_start = self.clock()
        if finish_jobs:
            if self.vt:
                self.vt.frozen = True  # the jobs finish at the outage's start, not after it on the client's clock
            self.server.state.release()
            state = self.server.state
            done = await anyio.to_thread.run_sync(
                lambda: state.wait_for(lambda: state.store.status_counts().get("completed", 0) >= finish_jobs, 60)
            )
            if self.vt:
                self.vt.frozen = False
            assert done, "the server did not finish the held jobs"

    async def end_on_time(self) -> None:
        """End the outage ``length`` seconds (of this run's clock) after it started."""
        if self.vt is None:
            await anyio.sleep(max(0.0, self.t_start + self.length - time.monotonic()))
            self._end()
            return
        self.vt.at(self.t_start + self.length, self._end)
        while not self.returned.is_set():
            self.vt.fire_due()  # in case no sleeper moves the clock there
            await anyio.sleep(0.002)

    def _end(self) -> None:
        self.proxy.set_mode("forward")
        self.t_return = self.clock()
        self.returned.set()

    def requests_during(self) -> int:
        """Requests sent between the start and the end of the outage."""
        return sum(1 for t in self.counter.sent if self.t_start <= t < self.t_return)

    def duplicates(self) -> int:
        """Circuits the server received more than once (by name)."""
        store = self.server.state.store
        names = [c["name"] for j in store.job_ids() for c in store.payload(j)["circuits"]]
        return len(names) - len(set(names))

    def close(self) -> None:
        """Stop the proxy."""
        self.proxy.close()


async def run_single(env: Env) -> Row:
    """One job held on the server; its wait meets the outage."""
    row = Row("single", env.mode, env.length, "virtual" if env.vt else "real", 1)
    env.server.state.hold()
    got: list[tuple[float, Any]] = []
    async with env.client() as client:
        job = await client.submit(pattern(5), shots=SHOTS)

        async def wait() -> None:
            try:
                result = await job.result_async(timeout_seconds=3600)
                got.append((env.clock(), result))
            except Exception as exc:  # reported in the table, not raised
                got.append((env.clock(), exc))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await env.begin(finish_jobs=1)
            tg.start_soon(env.end_on_time)
    when, value = got[0]
    jobs = env.server.state.stats()["jobs_created"]
    if isinstance(value, Exception):
        row.ok = False
        row.outcome = f"LOST: {type(value).__name__}"
        row.note = f"single {env.mode} {env.length} s {row.clock}: {type(value).__name__}: {str(value).splitlines()[0]}"
    else:
        right = value.get_counts() == {pattern_outcome(5): SHOTS}
        row.latencies = [when - env.t_return]
        row.ok = right and jobs == 1
        row.outcome = f"{'correct' if right else 'WRONG'}, jobs {jobs}/1"
    row.requests = env.requests_during()
    return row


async def run_batch(env: Env, *, submits_meet_outage: bool) -> Row:
    """A batch of 20 one-circuit jobs: submitted before the outage (its reads meet it), or started in it."""
    name = "batch-submits" if submits_meet_outage else "batch-reads"
    row = Row(name, env.mode, env.length, "virtual" if env.vt else "real", BATCH)
    circuits = [pattern(i) for i in range(BATCH)]
    arrived: dict[int, float] = {}
    outcomes: list[Any] = []

    def on_complete(outcome: Any) -> None:
        arrived[outcome.index] = env.clock()

    async with env.client() as client:
        options: dict[str, Any] = {}
        if submits_meet_outage:
            options["calibration_set_id"] = (await client.dynamic_architecture()).calibration_set_id
        else:
            env.server.state.hold()
        batch = client.run_batch(
            circuits,
            shots=SHOTS,
            circuits_per_job=1,
            progress=False,
            timeout_seconds=3600,
            on_complete=on_complete,
            **options,
        )
        async with anyio.create_task_group() as tg:
            if submits_meet_outage:
                await env.begin()
                tg.start_soon(env.end_on_time)
            async with batch:
                if not submits_meet_outage:
                    with anyio.fail_after(60):
                        # Every job id in the client's hands (not only created on the server) before the outage.
                        while len(batch.job_ids) < BATCH:  # noqa: ASYNC110 - the batch offers no event for this
                            await anyio.sleep(0.01)
                    await env.begin(finish_jobs=BATCH)
                    tg.start_soon(env.end_on_time)
                outcomes = await batch.outcomes()
    jobs = env.server.state.stats()["jobs_created"]
    dup = env.duplicates()
    right = sum(1 for o in outcomes if o.ok and o.value.counts == {pattern_outcome(o.index): SHOTS})
    unknown = sum(1 for o in outcomes if isinstance(o.error, SubmissionUnknownError))
    other = [o for o in outcomes if not o.ok and not isinstance(o.error, SubmissionUnknownError)]
    wrong = sum(1 for o in outcomes if o.ok) - right
    row.latencies = [arrived[o.index] - env.t_return for o in outcomes if o.ok and o.index in arrived]
    row.requests = env.requests_during()
    parts = [f"{right}/{BATCH} correct"]
    if wrong:
        parts.append(f"{wrong} WRONG")
    if unknown:
        parts.append(f"{unknown} unknown")
    if other:
        kinds = sorted({type(o.error).__name__ for o in other})
        parts.append(f"{len(other)} LOST ({','.join(kinds)})")
        row.note = f"{name} {env.mode} {env.length} s {row.clock}: {other[0].error}"
    parts.append(f"jobs {jobs}/{BATCH - unknown}" + (f", {dup} DUP" if dup else ""))
    row.outcome = ", ".join(parts)
    # Unknown submits (an ambiguous 502 after the body was sent) are by design never re-sent; they are
    # reported as such, not counted as failures. Anything else lost, wrong or duplicated is.
    row.ok = not wrong and not other and not dup and right + unknown == BATCH and jobs == right
    if unknown and not row.note:
        row.note = (
            f"{name} {env.mode} {env.length} s {row.clock}: {unknown} submits answered 502 after their body was "
            "sent stay SubmissionUnknownError (never re-sent, by design; resume_batch reports them)"
        )
    return row


# ------------------------------------------------------------------------------------------ IQM's client

IQM_CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("ignore")
    from iqm.iqm_client import IQMClient
    from iqm.pulse import Circuit, CircuitOperation

    client = IQMClient.from_url(sys.argv[1])
    circuit = Circuit(name="x", instructions=(
        CircuitOperation(name="prx", locus=("QB1",), args={"angle": 3.141592653589793, "phase": 0.0}),
        CircuitOperation(name="measure", locus=("QB1",), args={"key": "m"}),
    ))
    job = client.submit_circuits([circuit], shots=16)
    print("SUBMITTED", job.job_id, flush=True)
    try:
        status = job.wait_for_completion(timeout_secs=3600, progress_callback=lambda _: None)
        counts = job.result_counts()
        print("RESULT", status, counts[0].counts if counts else None, flush=True)
    except BaseException as exc:
        print("ERROR", type(exc).__name__, str(exc).replace(chr(10), " ")[:120], flush=True)
    """
)


async def run_iqm(env: Env, python: str) -> Row:
    """IQM's client in a subprocess: one job held on the server, ``wait_for_completion`` meets the outage."""
    row = Row("IQM client 36 single", env.mode, env.length, "real", 1)
    env.server.state.hold()
    lines: list[tuple[float, str]] = []
    got_line = threading.Condition()
    proc = await anyio.to_thread.run_sync(
        partial(
            subprocess.Popen,
            [python, "-c", IQM_CHILD, env.proxy.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with got_line:
                lines.append((time.monotonic(), line.strip()))
                got_line.notify_all()

    threading.Thread(target=reader, daemon=True).start()

    def wait_line(prefixes: tuple[str, ...], timeout: float) -> tuple[float, str] | None:
        with got_line:
            got_line.wait_for(lambda: any(t.startswith(prefixes) for _, t in lines) or proc.poll() is not None, timeout)
            return next(((w, t) for w, t in lines if t.startswith(prefixes)), None)

    try:
        first = await anyio.to_thread.run_sync(wait_line, ("SUBMITTED",), 120.0)
        if first is None:
            row.ok = False
            row.outcome = "did not start"
            row.note = f"IQM client: {proc.stderr.read()[-300:] if proc.stderr else ''}"
            return row
        async with anyio.create_task_group() as tg:
            await env.begin(finish_jobs=1)
            tg.start_soon(env.end_on_time)
            last = await anyio.to_thread.run_sync(wait_line, ("RESULT", "ERROR"), env.length + 120.0)
        if last is None:
            row.outcome = "no answer"
            row.ok = False
        elif last[1].startswith("RESULT"):
            row.latencies = [last[0] - env.t_return]
            right = "{'1': 16}" in last[1]
            row.outcome = f"survived, {'correct' if right else 'WRONG'}"
        else:
            words = last[1].split(" ", 2)
            row.outcome = f"gave up {last[0] - env.t_start:.1f} s into it: {words[1]}"
            row.note = f"IQM client {env.mode} {env.length} s real: {words[1]}: {words[2] if len(words) > 2 else ''}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return row


# ------------------------------------------------------------------------------------------ running


async def one(kind: str, mode: str, length: int, virtual: bool, iqm_python: str | None = None) -> Row:
    """Run one scenario with its own server, proxy and clock."""
    vt = VirtualTime() if virtual else None
    server_clock = vt.clock if vt else time.monotonic
    with serve_in_thread(ServerConfig(seed=1234), clock=server_clock) as server:
        env = Env(server, mode, length, vt)
        try:
            if kind == "single":
                return await run_single(env)
            if kind == "iqm":
                assert iqm_python is not None
                return await run_iqm(env, iqm_python)
            return await run_batch(env, submits_meet_outage=kind == "batch-submits")
        finally:
            env.close()


async def run_concurrently(calls: Sequence[Callable[[], Awaitable[Row]]]) -> list[Row]:
    """Run independent scenarios side by side (each has its own server, proxy and clock)."""
    rows: list[Row | None] = [None] * len(calls)

    async def put(i: int, call: Callable[[], Awaitable[Row]]) -> None:
        rows[i] = await call()

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(put, i, call)
    return [r for r in rows if r is not None]


async def run_all(lengths: Sequence[int], quick: bool, iqm_python: str | None) -> list[Row]:
    """Every scenario, mode and length; real-time ones four at a time (their outages overlap)."""
    kinds = ("single", "batch-reads", "batch-submits")
    rows: list[Row] = []
    for kind in kinds:
        # Control: the same scenario without an outage (the jobs finish at the same moment), to tell what the
        # outage adds to the wait from what the ordinary poll schedule of jobs seen deep in the queue costs.
        rows.append(await one(kind, "none", 0, virtual=True))
        for mode in MODES:
            for length in lengths:
                # Virtual runs one at a time: each spins its own clock, and they are short anyway.
                rows.append(await one(kind, mode, length, virtual=True))
    if not quick:
        first = True
        for mode in MODES:
            for length in [n for n in lengths if n in REAL_LENGTHS]:
                calls: list[Callable[[], Awaitable[Row]]] = [
                    partial(one, kind, mode, length, virtual=False) for kind in kinds
                ]
                if iqm_python:
                    calls.append(partial(one, "iqm", mode, length, virtual=False, iqm_python=iqm_python))
                if first:  # the real-time controls ride along with the first round
                    calls += [partial(one, kind, "none", 0, virtual=False) for kind in kinds]
                    first = False
                rows.extend(await run_concurrently(calls))
    return rows


def fmt_latency(row: Row) -> str:
    if not row.latencies:
        return "-"
    if row.jobs == 1:
        return f"{row.latencies[0]:.1f}"
    return f"{statistics.median(row.latencies):.1f} / {max(row.latencies):.1f}"


def table(rows: list[Row]) -> list[str]:
    """The rows as aligned text, sorted by scenario, mode, length and clock."""
    order = {"single": 0, "batch-reads": 1, "batch-submits": 2, "IQM client 36 single": 3}
    modes = {"none": 0, "refuse": 1, "html502": 2}
    rows = sorted(rows, key=lambda r: (order.get(r.scenario, 9), modes[r.mode], r.length, r.clock != "real"))
    head = (
        "scenario",
        "mode",
        "outage",
        "result after return s (p50 / max)",
        "requests in outage",
        "req/min",
        "outcome",
        "baseline req",
        "ours/baseline",
    )
    body = []
    for r in rows:
        baseline = r.jobs * r.length
        reqs = "-" if r.requests is None or not r.length else str(r.requests)
        per_min = "-" if reqs == "-" else f"{r.requests / (r.length / 60):.1f}"  # type: ignore[operator]
        ratio = "-" if reqs == "-" else f"{r.requests / baseline:.2f}"  # type: ignore[operator]
        outage = f"{r.length} s {r.clock}" if r.length else f"none ({r.clock})"
        mode = "control" if r.mode == "none" else r.mode
        shown = str(baseline) if r.length and r.requests is not None else "-"
        body.append((r.scenario, mode, outage, fmt_latency(r), reqs, per_min, r.outcome, shown, ratio))
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) for i in range(len(head))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="virtual time only (no real-time outages)")
    parser.add_argument("--lengths", default="5,30,120,600", help="outage lengths in seconds, comma-separated")
    parser.add_argument("--iqm-python", default=DEFAULT_IQM_PYTHON, help="interpreter with iqm-client ('' to skip)")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
    iqm_python = args.iqm_python if args.iqm_python and Path(args.iqm_python).exists() else None
    # The client's two WARNINGs per outage (start, end) are its normal behaviour; keep the table readable.
    logging.getLogger("iqm_async").setLevel(logging.ERROR)
    # The test proxy cancels its connection tasks when it closes; Python 3.11's asyncio logs each as an error.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    started = time.perf_counter()
    rows = anyio.run(run_all, lengths, args.quick, iqm_python)
    elapsed = time.perf_counter() - started

    print("Outages between client and server (fault proxy): refuse = connections refused; html502 = a gateway")
    print("answering 502 with an HTML page. Each scenario has its own embedded server, proxy and client")
    print("(default policies). The server finishes every job as the outage starts, so 'result after return'")
    print("is how long the caller still waits once the server answers again (batches: p50 / max over 20")
    print("circuits; batch-submits also submits and runs its jobs after the return). 'requests in outage':")
    print("HTTP requests the client sent while the outage lasted, counted by a wrapped httpx transport.")
    print("real = wall-clock outage; virtual = the client's clock and sleep are injected, a sleep moves the")
    print("clock instead of waiting, and the outage ends exactly on its virtual second. The virtual clock also")
    print("skips the setup's waits (the request budget while 20 jobs are submitted), so a batch's jobs enter the")
    print("outage last seen deeper in the queue and polled more rarely: compare a virtual row with its control;")
    print("for 5 s and 30 s the real rows are the measurement.")
    print("control = the same scenario with no outage (the jobs finish at the same moment): what the ordinary")
    print("poll schedule costs (a job last seen at queue position k is polled about every k s) and, for")
    print("batch-submits, the server's request budget (2000 units per 10 s, 100 per submit: 20 submits need")
    print("two windows).")
    print("baseline = COMPUTED, not run: a naive client polling (or re-submitting) each job once a second:")
    print("result at most 1 s after the return, jobs x outage-seconds requests. jobs a/b = jobs created on")
    print("the server / circuits that should have a job (no duplicates when equal). unknown = submit answered")
    print("502 after its body was sent: never re-sent (by design), left for the user / resume_batch.")
    print()
    for line in table(rows):
        print(line)
    notes = [r.note for r in rows if r.note]
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  {note}")
    if iqm_python is None and not args.quick:
        print("\nIQM's client was not run (no interpreter with iqm-client; see --iqm-python).")
    print(f"\nwall time: {elapsed:.0f} s")
    bad = [r for r in rows if not r.ok and not r.scenario.startswith("IQM")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
