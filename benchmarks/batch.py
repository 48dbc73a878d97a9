"""Batch fan-out against the embedded server: our batch vs sequential submit-and-wait vs the physical limit.

Prints one table from one run:

* wall time for N circuits (default 1,000) with ``client.run_batch`` on a server with realistic
  settings (IQM's rate limit on: 2000 units / 10 s; 20 ms of execution per circuit on top of the
  simulation; one FIFO executor), next to
* the sequential loop IQM's client does (submit one job, poll its status every 1 s, download, next),
  written with iqm-async single-job calls; it runs on a few circuits and is extrapolated linearly,
* the physical limit: the larger of the server's busy time (the sum of the jobs' execution times,
  read from their timelines) and the least time the rate limit allows for the requests strictly
  needed (one submit, one status read and one download per job);
* status requests per job and 429s received (from the server's request log and the client's counters);
* peak RSS of a client process tracking 10,000 and 50,000 jobs in flight (server held, rate limit raised
  for this measurement alone; the circuits are generated lazily by a ``Sequence``, as a sweep would be);
* 1,000, 10,000 and 50,000 circuits against a fast server with IQM's default quota (every server
  default), as a ratio to max(server busy time, rate-limit floor), with the floor's arithmetic at the
  client's share of the quota and at 100 % (no 429 may surface). That server runs in its own process,
  as a real one does: in this process it would share the client's interpreter lock, and each side's
  CPU work would show up as the other's latency;
* in fresh processes, ours and (with ``--baseline-python``) IQM's adapter: import, ``get_backend()``,
  ``get_counts()``/``get_memory()`` on 100 circuits x 20 qubits x 1000 shots, and the CPU time one
  small job costs (submit, wait, result), each as a ratio;
* with ``--baseline-python PATH`` (IQM's client 36, e.g. /work/iqm-venv/bin/python), the same
  sequential workload with IQM's own Qiskit adapter in a subprocess, plus IQM's client sending the
  circuits in 100-circuit jobs one after another, and the ratios.

Usage::

    python benchmarks/batch.py [--quick] [--n 1000] [--baseline-python /work/iqm-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, RateLimitError
from iqm_async._config import DEFAULT_RATE_LIMIT_POLICY
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serverproc import control, server_process

ROOT = Path(__file__).resolve().parents[1]
SHOTS = 100
PER_CIRCUIT_S = 0.02
SEQUENTIAL_POLL_S = 1.0
CHUNK = 100  # circuits per job in the batch (its default) and in IQM's chunked baseline


def sweep_circuit(i: int, n: int) -> QuantumCircuit:
    """rx(θ), rx(θ/2), rx(2θ) on three qubits, then measure (the example's sweep)."""
    theta = 2 * math.pi * i / max(1, n - 1)
    qc = QuantumCircuit(3, 3, name=f"sweep{i}")
    qc.rx(theta, 0)
    qc.rx(theta / 2, 1)
    qc.rx(2 * theta, 2)
    qc.measure(range(3), range(3))
    return qc


def is_status_read(method: str, path: str) -> bool:
    """True for a status request (E5): ``GET /api/v1/jobs/{id}``."""
    return method == "GET" and path.count("/") == 4 and "/jobs/" in path


def status_reads(server: RunningServer) -> int:
    """Status requests (E5) in the server's request log."""
    return sum(1 for e in server.state.requests() if is_status_read(e.method, e.path))


def rate_limit_floor(jobs: int, limits: RateLimitConfig) -> tuple[float, int]:
    """Least time a rolling-window quota allows for one submit, one status read and one download per job."""
    units = jobs * (limits.cost_submit + 2 * limits.cost_read)
    return limits.window_s * max(0, math.ceil(units / limits.quota) - 1), units


def floor_at(jobs: int, limits: RateLimitConfig, share: float) -> tuple[float, str]:
    """The rate-limit floor when the client spends ``share`` of the quota, with its arithmetic spelled out.

    A rolling window of ``W`` seconds admits ``share × quota`` units in any ``W`` seconds: the first
    ``share × quota`` go at once, each further ``share × quota`` one window later, so ``U`` units need
    ``W × (ceil(U / (share × quota)) − 1)`` seconds.
    """
    per_job = limits.cost_submit + 2 * limits.cost_read
    units = jobs * per_job
    allowed = share * limits.quota
    windows = max(0, math.ceil(units / allowed) - 1)
    text = (
        f"{jobs} jobs x ({limits.cost_submit} submit + {limits.cost_read} status + {limits.cost_read} download) = "
        f"{units} units; at {share * 100:g} % ({allowed:g}/{limits.window_s:g} s): "
        f"{limits.window_s:g} s x (ceil({units}/{allowed:g}) - 1) = {limits.window_s * windows:g} s"
    )
    return limits.window_s * windows, text


# ---------------------------------------------------------------------------------------------- runs


async def run_ours(url: str, circuits: Sequence[QuantumCircuit]) -> dict[str, Any]:
    """The batch with its defaults; returns wall time and counters."""
    async with AsyncIQMClient(url) as client:
        await client.dynamic_architecture()  # connection and quantum computer known, as for the loop below
        started = time.monotonic()
        batch = client.run_batch(circuits, shots=SHOTS, progress=False)
        outcomes = await batch.outcomes()
        wall = time.monotonic() - started
        return {
            "wall": wall,
            "jobs": len(batch.job_ids),
            "failed": sum(not o.ok for o in outcomes),
            "surfaced_429": sum(isinstance(o.error, RateLimitError) for o in outcomes),
            "client_429": client.transport.rate_limited,
        }


async def run_sequential(url: str, circuits: Sequence[QuantumCircuit]) -> float:
    """IQM's loop with iqm-async single-job calls: submit, poll every 1 s (first poll at once), download."""
    async with AsyncIQMClient(url) as client:
        await client.dynamic_architecture()
        started = time.monotonic()
        for qc in circuits:
            job = await client.submit(qc, shots=SHOTS)
            # The baseline is exactly this fixed-interval polling loop.
            while not (await job.refresh_async()).is_final:  # noqa: ASYNC110
                await anyio.sleep(SEQUENTIAL_POLL_S)
            await job.circuit_results_async()
        return time.monotonic() - started


RSS_CHILD = """
import json, resource, sys, time
from collections.abc import Sequence
import anyio, psutil
from iqm_async import AsyncIQMClient
sys.path.insert(0, sys.argv[3])
from batch import sweep_circuit

url, n = sys.argv[1], int(sys.argv[2])

class Sweep(Sequence):  # circuits made on demand, as a parameter sweep would
    def __len__(self):
        return n
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if not -n <= i < n:
            raise IndexError(i)  # iteration (list(), for) stops here
        return sweep_circuit(i % n, n)

async def main():
    async with AsyncIQMClient(url) as client:
        await client.dynamic_architecture()
        base = psutil.Process().memory_info().rss
        started = time.monotonic()
        async with client.run_batch(Sweep(), shots=100, circuits_per_job=1, max_in_flight=n, progress=False) as batch:
            while len(batch.job_ids) < n:
                await anyio.sleep(0.2)
            submitted = time.monotonic() - started
            await anyio.sleep(3)  # a round of polls of the deep queue
            from iqm_async.batch import scheduler_for
            print(json.dumps({
                "base_mb": base / 1e6,
                "rss_mb": psutil.Process().memory_info().rss / 1e6,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,  # ru_maxrss is in KiB
                "tracked": scheduler_for(client).stats.tracked,
                "submit_s": submitted,
            }), flush=True)
            batch._tg.cancel_scope.cancel()  # stop waiting; the jobs stay on the (held) server

anyio.run(main)
"""

IQM_CHILD = """
import json, math, sys, time, warnings
warnings.simplefilter("ignore")
from qiskit import QuantumCircuit, transpile
from iqm.qiskit_iqm import IQMProvider

url, n, n_seq, shots, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def sweep_circuit(i, n):
    theta = 2 * math.pi * i / max(1, n - 1)
    qc = QuantumCircuit(3, 3, name=f"sweep{i}")
    qc.rx(theta, 0); qc.rx(theta / 2, 1); qc.rx(2 * theta, 2)
    qc.measure(range(3), range(3))
    return qc

backend = IQMProvider(url).get_backend()
circuits = transpile([sweep_circuit(i, n) for i in range(n)], backend, optimization_level=0)
started = time.monotonic()
for qc in circuits[:n_seq]:
    backend.run(qc, shots=shots).result()
sequential = time.monotonic() - started
started = time.monotonic()
for k in range(0, n, chunk):
    backend.run(circuits[k:k + chunk], shots=shots).result()
chunked = time.monotonic() - started
print(json.dumps({"sequential": sequential, "chunked": chunked}))
"""


QISKIT_CALLS_CHILD = """
import json, math, statistics, sys, time, warnings
warnings.simplefilter("ignore")
url, which = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3 and sys.argv[3] == "no-trio":
    sys.modules["trio"] = None  # as on a user's machine: trio comes with our test extra only
started = time.perf_counter()
if which == "ours":
    from iqm_sync_shim import IQMProvider
else:
    from iqm.qiskit_iqm import IQMProvider
from qiskit import QuantumCircuit, transpile
imported = time.perf_counter() - started

def timed(call, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)

t = time.perf_counter()
provider = IQMProvider(url)
backend = provider.get_backend()
fresh = time.perf_counter() - t
again = timed(provider.get_backend, 10)
circuits = []
for i in range(100):
    qc = QuantumCircuit(20, 20, name=f"c{i}")
    for q in range(20):
        qc.r(math.pi / 2, 0.0, q)
    qc.measure(range(20), range(20))
    circuits.append(qc)
circuits = transpile(circuits, backend, optimization_level=0)
result = backend.run(circuits, shots=1000).result()
t = time.perf_counter()
counts = result.get_counts()
first = time.perf_counter() - t
repeat = timed(result.get_counts, 5)
try:
    memory = timed(lambda: [result.get_memory(i) for i in range(100)], 3)
except Exception:
    memory = None
small = QuantumCircuit(2, 2, name="small")
small.r(math.pi / 2, 0.0, 0)
small.measure(range(2), range(2))
small = transpile(small, backend, optimization_level=0)
backend.run(small, shots=100).result()  # warm: connections open
cpu, wall = time.process_time(), time.perf_counter()
for _ in range(20):
    backend.run(small, shots=100).result()
cpu_job, wall_job = (time.process_time() - cpu) / 20, (time.perf_counter() - wall) / 20
print(json.dumps({"import": imported, "fresh": fresh, "get_backend": again, "counts_first": first,
                  "counts": repeat, "memory": memory, "outcomes": sum(len(c) for c in counts),
                  "cpu_job": cpu_job, "wall_job": wall_job}))
"""


def run_qiskit_calls(python: str, url: str, which: str, *extra: str) -> dict[str, Any]:
    """Time get_backend(), get_counts()/get_memory() and a small job's CPU in a fresh process (ours, or IQM's)."""
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(QISKIT_CALLS_CHILD), url, which, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)} if which == "ours" else None,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} Qiskit-calls child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_rss(n_jobs: int) -> dict[str, Any]:
    """Peak RSS of a client process tracking ``n_jobs`` jobs that the held server keeps waiting."""
    config = ServerConfig(seed=11, rate_limit=RateLimitConfig(quota=10**9))  # this measurement alone
    with serve_in_thread(config) as srv:
        srv.state.hold()
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RSS_CHILD), srv.url, str(n_jobs), str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"RSS child failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def run_iqm(python: str, url: str, n: int, n_seq: int) -> dict[str, float]:
    """IQM's client 36 in a subprocess: sequential single-circuit jobs, and 100-circuit jobs one by one."""
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(IQM_CHILD), url, str(n), str(n_seq), str(SHOTS), str(CHUNK)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"IQM client run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N everywhere (a minute or so)")
    parser.add_argument("--n", type=int, default=None, help="circuits in the timed batch (default 1000; quick 200)")
    parser.add_argument("--baseline-python", default=None, help="interpreter with IQM's iqm-client 36 installed")
    parser.add_argument(
        "--rss-jobs", default=None, help="jobs in flight for the RSS measurements, comma-separated (10000,50000)"
    )
    parser.add_argument(
        "--limit-sizes",
        default=None,
        help="circuits per fast-server rate-limit run, comma-separated (1000,10000,50000)",
    )
    parser.add_argument("--skip-main", action="store_true", help="skip the realistic batch, sequential and RSS rows")
    parser.add_argument("--skip-qiskit-calls", action="store_true", help="skip the get_backend/get_counts rows")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 1000)
    n_seq = 5 if args.quick else 20
    rss_sizes = [int(x) for x in (args.rss_jobs or ("2000" if args.quick else "10000,50000")).split(",") if x]
    default_sizes = "1000,2000" if args.quick else "1000,10000,50000"
    # An empty --limit-sizes runs none of them (it used to fall back to the defaults).
    limit_sizes = [int(x) for x in (default_sizes if args.limit_sizes is None else args.limit_sizes).split(",") if x]
    rows: list[tuple[str, str, str, str]] = []
    circuits = [sweep_circuit(i, n) for i in range(n)]
    limits = RateLimitConfig()

    def row(what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append((what, value, target, "" if ok is None else ("yes" if ok else "NO")))

    if not args.skip_main:
        config = ServerConfig(seed=7, exec_time_per_circuit=PER_CIRCUIT_S, rate_limit=limits)
        print(
            f"running: {n} circuits batch, {n_seq} sequential, {rss_sizes} in-flight jobs for RSS …",
            file=sys.stderr,
        )
        with serve_in_thread(config) as srv:
            ours = anyio.run(run_ours, srv.url, circuits)
            busy = srv.state.store.busy_seconds
            floor, units = rate_limit_floor(ours["jobs"], limits)
            limit = max(busy, floor)
            statuses = status_reads(srv) / ours["jobs"]
            server_429 = srv.state.stats()["rate_limited"]

            srv.state.reset()
            seq = anyio.run(run_sequential, srv.url, circuits[:n_seq])
            seq_total = seq * n / n_seq

            iqm: dict[str, float] | None = None
            if args.baseline_python:
                srv.state.reset()
                iqm = run_iqm(args.baseline_python, srv.url, n, n_seq)

        target = 1.1 * limit + SEQUENTIAL_POLL_S
        row(
            f"wall time, {n} circuits, iqm-async batch ({ours['jobs']} jobs)",
            f"{ours['wall']:.1f} s",
            f"<= 1.1 x limit + 1 poll = {target:.1f} s",
            ours["wall"] <= target and ours["failed"] == 0,
        )
        row(
            "physical limit = max(server busy, rate-limit floor)",
            f"{limit:.1f} s",
            f"busy {busy:.1f} s; floor {floor:.1f} s for {units} units",
        )
        row("  ratio to the limit", f"{ours['wall'] / limit:.3f}x")
        row(
            f"sequential submit-and-wait, 1 s polls (iqm-async, {n_seq} run, x{n / n_seq:g})",
            f"{seq_total:.0f} s (extrapolated; {seq / n_seq:.2f} s per circuit)",
        )
        speedup = seq_total / ours["wall"]
        row("  batch speed-up over sequential", f"{speedup:.1f}x", ">= 10x", speedup >= 10)
        row("status requests per job (server log)", f"{statuses:.1f}", "< 10", statuses < 10)
        row(
            "429s received by the client / surfaced as errors",
            f"{ours['client_429']} / {ours['surfaced_429']} (server refused {server_429})",
            "0 surfaced",
            ours["surfaced_429"] == 0,
        )
        if iqm is not None:
            iqm_seq_total = iqm["sequential"] * n / n_seq
            row(
                f"IQM client 36, sequential ({n_seq} run, x{n / n_seq:g})",
                f"{iqm_seq_total:.0f} s (extrapolated; {iqm['sequential'] / n_seq:.2f} s per circuit)",
            )
            row("  batch speed-up over IQM client, sequential", f"{iqm_seq_total / ours['wall']:.1f}x")
            row(
                f"IQM client 36, {CHUNK}-circuit jobs one after another",
                f"{iqm['chunked']:.1f} s (measured, {n} circuits)",
            )
            row(f"  batch speed-up over IQM client, {CHUNK}-circuit jobs", f"{iqm['chunked'] / ours['wall']:.2f}x")
        else:
            row("IQM client 36 baseline", "skipped", "pass --baseline-python /work/iqm-venv/bin/python")

        for n_rss in rss_sizes:
            rss = run_rss(n_rss)
            budget = 200 if n_rss <= 10_000 else 640  # the figures: under 200 MB at 10k, 640 MB at 50k
            row(
                f"peak RSS of the client tracking {n_rss} jobs in flight",
                f"{rss['peak_mb']:.0f} MB ({rss['base_mb']:.0f} MB after imports; {rss['tracked']} tracked, "
                f"submitted in {rss['submit_s']:.0f} s)",
                f"< {budget} MB",
                rss["peak_mb"] < budget and rss["tracked"] == n_rss,
            )

    for size in limit_sizes:
        with server_process("--seed", "5") as url:  # every server default: fast, rate limit on
            print(f"running: {size} circuits on a fast server with the rate limit on …", file=sys.stderr)
            big = anyio.run(run_ours, url, [sweep_circuit(i, size) for i in range(size)])
            stats = control(url, "stats")
            log = control(url, "requests")
            big_busy = stats["busy_seconds"]
            big_statuses = sum(1 for e in log if is_status_read(e["method"], e["path"])) / big["jobs"]
            big_refused = stats["rate_limited"]
            requests = len(log)
        floor90, text90 = floor_at(big["jobs"], limits, 1 - DEFAULT_RATE_LIMIT_POLICY.low_water_fraction)
        floor100, text100 = floor_at(big["jobs"], limits, 1.0)
        big_limit = max(big_busy, floor90)
        ratio = big["wall"] / big_limit if big_limit > 0 else math.inf
        row(
            f"{size} circuits, fast server, rate limit on ({big['jobs']} jobs): wall",
            f"{big['wall']:.1f} s = {ratio:.2f}x max(busy {big_busy:.1f} s, floor {floor90:g} s)",
            "<= 1.1x",
            ratio <= 1.1 and big["failed"] == 0,
        )
        row("  floor at the client's share", text90)
        vs100 = f"wall / this floor = {big['wall'] / floor100:.2f}x" if floor100 > 0 else "fits in one window"
        row("  floor at 100 % of the quota", text100, vs100)
        row(
            "  requests / 429s received / surfaced",
            f"{requests} ({requests / big['jobs']:.1f}/job, {big_statuses:.1f} status reads/job) / "
            f"{big['client_429']} / {big['surfaced_429']} (server refused {big_refused})",
            "0 surfaced",
            big["surfaced_429"] == 0,
        )

    if not args.skip_qiskit_calls:
        with serve_in_thread(ServerConfig(seed=9, rate_limit=RateLimitConfig(enabled=False))) as srv:
            print("running: get_backend / get_counts in fresh processes …", file=sys.stderr)
            ours_calls = run_qiskit_calls(sys.executable, srv.url, "ours")
            ours_no_trio = run_qiskit_calls(sys.executable, srv.url, "ours", "no-trio")
            iqm_calls = run_qiskit_calls(args.baseline_python, srv.url, "iqm") if args.baseline_python else None
        ours_calls["fresh_no_trio"] = ours_no_trio["fresh"]
        ours_calls["import_fresh"] = ours_calls["import"] + ours_calls["fresh"]
        if iqm_calls is not None:
            iqm_calls["fresh_no_trio"] = iqm_calls["fresh"]  # IQM's environment has no trio
            iqm_calls["import_fresh"] = iqm_calls["import"] + iqm_calls["fresh"]
        for key, label in (
            ("fresh", "IQMProvider(url).get_backend() in a fresh process"),
            ("fresh_no_trio", "  the same without trio installed (ours: trio is a test dependency)"),
            ("import_fresh", "  import of the facade + the above, together"),
            ("get_backend", "get_backend() on an open provider (median of 10)"),
            ("counts_first", "result.get_counts(), 100 circuits x 20 qubits x 1000 shots, first call"),
            ("counts", "  the same, repeated (median of 5)"),
            ("memory", "get_memory() of each of the 100 circuits (median of 3)"),
            ("cpu_job", "CPU per small job: run + result, 2 qubits, 100 shots (mean of 20)"),
        ):
            ours_s = ours_calls[key]
            if iqm_calls is None or iqm_calls.get(key) is None:
                row(label, f"{ours_s * 1000:.1f} ms", "IQM: pass --baseline-python")
                continue
            ratio = ours_s / iqm_calls[key]
            row(
                label,
                f"{ours_s * 1000:.1f} ms vs IQM {iqm_calls[key] * 1000:.1f} ms = {ratio:.2f}x",
                "<= 2x",
                ratio <= 2.0,
            )
        imported = f"{ours_calls['import'] * 1000:.0f} ms"
        if iqm_calls is not None:
            imported += (
                f" vs IQM {iqm_calls['import'] * 1000:.0f} ms = {ours_calls['import'] / iqm_calls['import']:.2f}x"
            )
        row("  import of the facade (same child)", imported)

    print()
    print(
        f"iqm-async batch benchmark: embedded server, rate limit {limits.quota} units / {limits.window_s:g} s "
        f"(submit {limits.cost_submit}, read {limits.cost_read}), {PER_CIRCUIT_S * 1000:g} ms per circuit, "
        f"FIFO executor, {SHOTS} shots"
    )
    widths = [max(len(r[i]) for r in [*rows, ("measurement", "value", "target", "ok")]) for i in range(4)]
    header = ("measurement", "value", "target", "ok")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
