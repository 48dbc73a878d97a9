"""Result latency after completion: iqm-async's core and facade vs IQM's client 36, same server, same run.

For jobs that execute for about 0.05, 0.5 and 3 s (``--long`` adds 20 s jobs: our core's first one,
without history, on a row of its own, then ``--long-rounds`` more with it, and IQM's client twice)
on the embedded server
(execution time set with ``exec_time_per_shot``: the length of a job is its shots), each client runs
the lengths in interleaved rounds, one job at a time: submit, then block until the result is in hand.
For every job the table gives the time from the server's ``ready`` step (the status became
``completed``) until the result was in the caller's hands, p50 and p95, and the status requests the
job cost (server request log). The first round has no history: it shows the schedule without a
forecast.

Jobs of 20 and 120 s are also run time-injected: the same :class:`~iqm_async.polling.PollSchedule`
and :class:`~iqm_async._forecast.ThroughputHistory` on a virtual clock against simulated jobs whose
execution time varies by the relative jitter measured on the real runs (at least 1 %), next to IQM's
loop (a status request at once, then one a second). A poll's reply and the download are charged the
median round trip measured on the real runs.

It also times run + result of a trivial job (1 shot, no added execution time) through the facade
and through IQM's adapter, and how soon a wait on a job that is not freshly submitted (re-attached by
id from another client: completed, or 0.2 s into its 0.5 s execution) sends its first status request.

Usage::

    python benchmarks/latency.py [--reps 8] [--long] [--baseline-python /work/iqm-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient
from iqm_async._forecast import JobForecast, ThroughputHistory
from iqm_async.models import JobData, TimelineEntry
from iqm_async.polling import PollSchedule
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread

PER_SHOT_S = 0.001
"""Execution seconds per shot on the benchmark's server: a job of L seconds has L / PER_SHOT_S shots."""
SIM_LENGTHS = (0.05, 0.5, 3.0, 20.0, 120.0)
SIM_REPS = 40


def circuit() -> QuantumCircuit:
    """One qubit flipped and measured (native gates)."""
    qc = QuantumCircuit(1, 1, name="flip")
    qc.r(3.141592653589793, 0.0, 0)
    qc.measure(0, 0)
    return qc


def shots_for(length: float) -> int:
    """Shots that make a job execute for about ``length`` seconds."""
    return max(1, round(length / PER_SHOT_S))


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------- real runs


async def run_core(url: str, lengths: list[float], reps: int) -> list[tuple[float, str, float]]:
    """Our core: submit, then ``await job.result_async()``; returns (length, job id, wall time in hand)."""
    out = []
    async with AsyncIQMClient(url) as client:
        await client.dynamic_architecture()
        for _ in range(reps):
            for length in lengths:
                job = await client.submit(circuit(), shots=shots_for(length))
                await job.result_async()
                out.append((length, job.job_id, time.time()))
    return out


async def status_round_trip(url: str) -> float:
    """Median seconds of one status request (on its own server, so the benchmark's counts stay clean)."""
    async with AsyncIQMClient(url) as client:
        job = await client.submit(circuit(), shots=1)
        await job.wait_async()
        trips = []
        for _ in range(20):
            started = time.perf_counter()
            await client.job_data(job.job_id)
            trips.append(time.perf_counter() - started)
    return statistics.median(trips)


def run_facade(url: str, lengths: list[float], reps: int) -> list[tuple[float, str, float]]:
    """Our facade: ``backend.run(qc, shots).result()``."""
    from iqm_sync_shim import IQMProvider

    out = []
    with IQMProvider(url) as provider:
        backend = provider.get_backend()
        for _ in range(reps):
            for length in lengths:
                job = backend.run(circuit(), shots=shots_for(length))
                job.result()
                out.append((length, job.job_id(), time.time()))
    return out


def trivial_facade(url: str, reps: int) -> list[float]:
    """Seconds for run + result of a 1-shot job through our facade."""
    from iqm_sync_shim import IQMProvider

    times = []
    with IQMProvider(url) as provider:
        backend = provider.get_backend()
        for _ in range(reps):
            started = time.perf_counter()
            backend.run(circuit(), shots=1).result()
            times.append(time.perf_counter() - started)
    return times


async def first_requests(server: RunningServer, shots: int, settle: float, reps: int) -> list[float]:
    """Seconds from the start of a wait on a re-attached job to its first status request (server log)."""
    delays = []
    async with AsyncIQMClient(server.url) as submitter, AsyncIQMClient(server.url) as client:
        await client.dynamic_architecture()
        for _ in range(reps):
            job = await submitter.submit(circuit(), shots=shots)
            if settle:
                await anyio.sleep(settle)  # the job runs on; this is when the other client attaches
            else:
                await job.wait_async()
            attached = client.job(job.job_id)
            started = time.time()
            await attached.wait_async()
            first = min(
                e.received_at
                for e in server.state.requests()
                if e.method == "GET" and e.path.rstrip("/").endswith(job.job_id) and e.received_at >= started
            )
            delays.append(first - started)
    return delays


IQM_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from qiskit import QuantumCircuit
from iqm.qiskit_iqm import IQMProvider

url, trivial_url, lengths, reps, trivial_reps, per_shot = (
    sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))

def circuit():
    qc = QuantumCircuit(1, 1, name="flip")
    qc.r(3.141592653589793, 0.0, 0)
    qc.measure(0, 0)
    return qc

backend = IQMProvider(url).get_backend()
jobs = []
for _ in range(reps):
    for length in lengths:
        job = backend.run(circuit(), shots=max(1, round(length / per_shot)))
        job.result()
        jobs.append((length, job.job_id(), time.time()))
backend = IQMProvider(trivial_url).get_backend()
trivial = []
for _ in range(trivial_reps):
    started = time.perf_counter()
    backend.run(circuit(), shots=1).result()
    trivial.append(time.perf_counter() - started)
print(json.dumps({"jobs": jobs, "trivial": trivial}))
"""


def run_iqm(python: str, url: str, trivial_url: str, lengths: list[float], reps: int, trivial_reps: int) -> Any:
    """IQM's client 36 in a subprocess: the same rounds, then the trivial jobs."""
    argv = [python, "-c", textwrap.dedent(IQM_CHILD), url, trivial_url, json.dumps(lengths), str(reps)]
    proc = subprocess.run([*argv, str(trivial_reps), str(PER_SHOT_S)], capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"IQM client run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(server: RunningServer, records: list[tuple[float, str, float]]) -> dict[float, dict[str, Any]]:
    """Per length: latencies after ``ready``, status requests per job, execution times, round trips."""
    status_counts: dict[str, int] = {}
    for e in server.state.requests():
        parts = e.path.strip("/").split("/")
        if e.method == "GET" and len(parts) == 4 and parts[2] == "jobs":
            status_counts[parts[3]] = status_counts.get(parts[3], 0) + 1
    by_length: dict[float, dict[str, Any]] = {}
    for length, job_id, in_hand in records:
        record = server.state.store.get(job_id)
        steps = {(t.source, t.status): t.timestamp.timestamp() for t in record.timeline}
        ready = steps[("iqm-server", "ready")]
        row = by_length.setdefault(length, {"latency": [], "polls": [], "exec": []})
        row["latency"].append(in_hand - ready)
        row["polls"].append(status_counts.get(job_id, 0))
        row["exec"].append(ready - steps[("iqm-station-control", "received")])
    return by_length


# ---------------------------------------------------------------------------------------------- time-injected


def simulate(
    lengths: tuple[float, ...], reps: int, jitter: float, rtt: float, seed: int = 1
) -> dict[str, dict[float, dict[str, list[float]]]]:
    """Our schedule (with a learning history) and IQM's 1 s loop against simulated jobs on a virtual clock."""
    rng = random.Random(seed)
    epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)
    history = ThroughputHistory()
    out: dict[str, dict[float, dict[str, list[float]]]] = {"ours": {}, "iqm": {}}
    pickup = 0.005  # seconds from submit to the start of execution
    for _ in range(reps):
        for length in lengths:
            duration = length * (1 + rng.gauss(0.0, jitter)) + 0.002
            start, end = pickup, pickup + duration

            def reply(t: float, start: float = start, end: float = end) -> JobData:
                timeline = [TimelineEntry("iqm-server", "created", epoch)]
                status = "waiting"
                if t >= start:
                    timeline.append(TimelineEntry("iqm-station-control", "received", epoch + timedelta(seconds=start)))
                    status = "processing"
                if t >= end:
                    timeline.append(TimelineEntry("iqm-station-control", "completed", epoch + timedelta(seconds=end)))
                    timeline.append(TimelineEntry("iqm-server", "ready", epoch + timedelta(seconds=end)))
                    status = "completed"
                return JobData(id="j", status=status, timeline=tuple(timeline), calibration_set_id="c")

            now = [0.0]

            def wall(now: list[float] = now) -> float:
                return epoch.timestamp() + now[0]

            forecast = JobForecast(history, float(shots_for(length)), "c")
            schedule = PollSchedule(forecast=forecast, wall=wall)
            now[0] = schedule.start_delay(reply(0.0), 0.0)
            polls = 0
            while True:
                polls += 1
                now[0] += rtt / 2  # the request reaches the server
                seen = reply(now[0])
                now[0] += rtt / 2
                if seen.is_final:
                    forecast.learn(seen)
                    break
                now[0] += schedule.next_delay(seen, now[0])
            row = out["ours"].setdefault(length, {"latency": [], "polls": []})
            row["latency"].append(now[0] + rtt - end)  # plus the download
            row["polls"].append(polls)
            # IQM's loop: a status request at once, then one every second.
            k = 0
            while k * 1.0 + rtt / 2 < end:
                k += 1
            row = out["iqm"].setdefault(length, {"latency": [], "polls": []})
            row["latency"].append(k * 1.0 + rtt + rtt - end)
            row["polls"].append(k + 1)
    return out


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8, help="rounds of real jobs per client (each round: every length)")
    parser.add_argument("--long", action="store_true", help="also run 20 s jobs for real")
    parser.add_argument("--long-rounds", type=int, default=4, help="20 s jobs with history (after the first)")
    parser.add_argument("--baseline-python", default=None, help="interpreter with IQM's iqm-client 36 installed")
    args = parser.parse_args()
    lengths = [0.05, 0.5, 3.0]
    trivial_reps = 20
    # No 429s here (this measures waits, not the budget; IQM's client does not pace and would hit the limit).
    config = ServerConfig(seed=3, exec_time_per_shot=PER_SHOT_S, rate_limit=RateLimitConfig(enabled=False))
    results: dict[str, dict[float, dict[str, Any]]] = {}
    trivial: dict[str, list[float]] = {}
    print(f"running {args.reps} rounds of {lengths} s jobs per client …", file=sys.stderr)
    fast_config = ServerConfig(seed=4, rate_limit=RateLimitConfig(enabled=False))
    with serve_in_thread(config) as srv, serve_in_thread(fast_config) as fast:
        results["iqm-async core"] = measure(srv, anyio.run(run_core, srv.url, lengths, args.reps))
        rtt = anyio.run(status_round_trip, fast.url)
        srv.state.reset()
        results["iqm-async facade"] = measure(srv, run_facade(srv.url, lengths, args.reps))
        trivial["iqm-async facade"] = trivial_facade(fast.url, trivial_reps)
        attach = {
            "completed": anyio.run(first_requests, fast, 1, 0.0, 10),
            "running (0.2 s into 0.5 s)": anyio.run(first_requests, srv, shots_for(0.5), 0.2, 5),
        }
        if args.long:
            srv.state.reset()
            # run_core opens a fresh client: its first 20 s job has no history, so that one has a row of its own.
            records = anyio.run(run_core, srv.url, [20.0], 1 + args.long_rounds)
            results["iqm-async core, first job"] = measure(srv, records[:1])
            results["iqm-async core"].update(measure(srv, records[1:]))
        if args.baseline_python:
            srv.state.reset()
            iqm = run_iqm(args.baseline_python, srv.url, fast.url, lengths, args.reps, trivial_reps)
            results["IQM client 36"] = measure(srv, [tuple(r) for r in iqm["jobs"]])
            if args.long:
                iqm_long = run_iqm(args.baseline_python, srv.url, fast.url, [20.0], 2, 1)
                results["IQM client 36"].update(measure(srv, [tuple(r) for r in iqm_long["jobs"]]))
            trivial["IQM client 36"] = iqm["trivial"]

    core = results["iqm-async core"]
    jitters = [statistics.pstdev(r["exec"]) / statistics.mean(r["exec"]) for r in core.values() if len(r["exec"]) > 1]
    jitter = max(0.01, max(jitters) if jitters else 0.0)
    sim = simulate(SIM_LENGTHS, SIM_REPS, jitter, rtt)

    print()
    print(
        f"Result latency after completion (server's 'ready' step -> result in the caller's hands); embedded "
        f"server, {PER_SHOT_S * 1000:g} ms per shot, {args.reps} rounds"
    )
    header = ("job", "client", "p50 s", "p95 s", "status req/job", "vs IQM p50", "goal p50<=0.25 p95<=1", "req<=IQM")
    rows: list[tuple[str, ...]] = []
    baseline = results.get("IQM client 36", {})
    for length in sorted({k for r in results.values() for k in r}):
        for name, per in results.items():
            if length not in per:
                continue
            lat, polls = per[length]["latency"], per[length]["polls"]
            p50, p95, req = percentile(lat, 0.5), percentile(lat, 0.95), statistics.mean(polls)
            base = baseline.get(length)
            ratio = f"{p50 / percentile(base['latency'], 0.5):.2f}x" if base and name != "IQM client 36" else ""
            goal = "" if name == "IQM client 36" else ("yes" if p50 <= 0.25 and p95 <= 1.0 else "NO")
            if name.endswith("first job"):
                goal = "no history: today's"  # the goal is graceful degradation: the schedule without a forecast
            fewer = ""
            if base and name != "IQM client 36":
                fewer = "yes" if req <= statistics.mean(base["polls"]) + 1e-9 else "NO"
            rows.append((f"{length:g} s (real)", name, f"{p50:.3f}", f"{p95:.3f}", f"{req:.1f}", ratio, goal, fewer))
    for length in SIM_LENGTHS:
        ours, theirs = sim["ours"][length], sim["iqm"][length]
        p50, p95 = percentile(ours["latency"], 0.5), percentile(ours["latency"], 0.95)
        i50, i95 = percentile(theirs["latency"], 0.5), percentile(theirs["latency"], 0.95)
        req, ireq = statistics.mean(ours["polls"]), statistics.mean(theirs["polls"])
        label = f"{length:g} s (time-injected)"
        ok = "yes" if p50 <= 0.25 and p95 <= 1.0 else "NO"
        rows.append(
            (
                label,
                "iqm-async schedule",
                f"{p50:.3f}",
                f"{p95:.3f}",
                f"{req:.1f}",
                f"{p50 / i50:.2f}x",
                ok,
                "yes" if req <= ireq else "NO",
            )
        )
        rows.append((label, "1 s polling (IQM)", f"{i50:.3f}", f"{i95:.3f}", f"{ireq:.1f}", "", "", ""))
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(
        f"time-injected: {SIM_REPS} rounds, execution jitter {jitter * 100:.1f} % (measured, at least 1 %), "
        f"round trip {rtt * 1000:.1f} ms (measured); the first round has no history"
    )

    print()
    print(f"run + result of a trivial job (1 shot) through the Qiskit facade, {trivial_reps} runs")
    for name, times in trivial.items():
        p50, p95 = percentile(times, 0.5) * 1000, percentile(times, 0.95) * 1000
        print(f"  {name:18s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    if "IQM client 36" in trivial:
        ratio = percentile(trivial["iqm-async facade"], 0.5) / percentile(trivial["IQM client 36"], 0.5)
        print(f"  ratio (p50): {ratio:.2f}x   goal <= 2x: {'yes' if ratio <= 2 else 'NO'}")
    else:
        print("  IQM client 36: skipped (pass --baseline-python /work/iqm-venv/bin/python)")

    print()
    print("first status request of a wait on a job not freshly submitted (re-attached by id), iqm-async core")
    for what, delays in attach.items():
        p50, worst = percentile(delays, 0.5) * 1000, max(delays) * 1000
        ok = "yes" if worst < 20 else "NO"  # at once: no sleep (the first-poll delay is 100 ms)
        goal = f"goal: at once (< 20 ms, no first-poll sleep): {ok}"
        print(f"  {what:28s} p50 {p50:5.1f} ms   max {worst:5.1f} ms   {goal}")


if __name__ == "__main__":
    main()
