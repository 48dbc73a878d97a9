"""Sweeps at scale: transpile once vs per point, preparation on a pool or Dask, streamed submits, primitives.

Prints one table from one run, our figures next to a baseline's from the same run:

1. a parameter sweep (default 1,000 points) of a 20-qubit, depth-20 parameterised circuit on Garnet's
   shape: client CPU and wall time when every point is bound and transpiled (what users do today)
   vs ``run_batch(circuit, parameter_values=..., transpile=...)`` (transpiled once, bound per point).
   Each layer is an ``ry`` per qubit and a CZ on each of 10 fixed pairs, so the embedded server
   simulates the pairs apart and its time stays small; the client's transpiler sees all 20 qubits;
2. distinct 10-qubit circuits (default 5,000) transpiled and prepared serially, on the default process
   pool and on a two-worker Dask ``LocalCluster``: preparation throughput (start-up included);
3. time to the first submit of a 10,000-circuit batch (transpiled by the batch) streamed vs prepared
   completely first (the server holds every job, so only the client's work is timed);
4. RSS of a client process tracking 10,000 jobs of a sweep in flight (the server holds them);
5. our ``SamplerV2`` vs Qiskit's ``BackendSamplerV2`` over our backend on a 1,000-binding PUB: wall time
   and requests sent.

The server runs in a subprocess (``python -m iqm_async.server``), so client CPU is this process's CPU time.

Usage::

    python benchmarks/sweeps.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.transpiler import generate_preset_pass_manager

from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy
from iqm_async.models import JobParameters
from iqm_async.qiskit_convert import qubit_names
from iqm_async.sweeps import Pipeline, StageSettings, SweepInput, resolve_transpile
from iqm_async.sweeps.pipeline import choose_executor
from iqm_async.transpiler import DEFAULT_PLUGIN, build_target

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serverproc import control, server_process

ROOT = Path(__file__).resolve().parents[1]
FAST = {"poll": PollPolicy(first_delay=0.05, max_interval=0.5), "rate_limit": RateLimitPolicy(enabled=False)}
SEED = 1234


def server(*flags: str):
    """Serve Garnet's shape in a subprocess (no rate limit, seeded); yield its URL."""
    return server_process("--chip", "garnet", "--seed", "1", "--no-rate-limit", *flags)


def paired_ansatz(n: int = 20, depth: int = 20) -> QuantumCircuit:
    theta = ParameterVector("t", n * depth)
    qc = QuantumCircuit(n, name="ansatz")
    k = 0
    for _ in range(depth):
        for q in range(n):
            qc.ry(theta[k], q)
            k += 1
        for q in range(0, n - 1, 2):
            qc.cz(q, q + 1)
    qc.measure_all()
    return qc


def distinct_circuit(i: int, n: int = 10, depth: int = 10) -> QuantumCircuit:
    rng = np.random.default_rng(i)
    qc = QuantumCircuit(n, name=f"d{i}")
    for layer in range(depth):
        for q in range(n):
            qc.ry(float(rng.uniform(0, 6.28)), q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


class Lazy(Sequence):  # type: ignore[type-arg]
    """A sequence of distinct circuits made on demand (never all in memory)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not 0 <= i < self.n:
            raise IndexError(i)
        return distinct_circuit(i)


# ---------------------------------------------------------------------------------------------- 1. sweep


async def sweep_rows(url: str, points: int, shots: int, transpile_sample: int) -> dict[str, float]:
    circuit = paired_ansatz()
    values = np.random.default_rng(SEED).uniform(0, 2 * math.pi, size=(points, circuit.num_parameters))
    out: dict[str, float] = {}
    async with AsyncIQMClient(url, **FAST) as client:
        dqa = await client.dynamic_architecture()
        target = build_target(dqa, qubit_names(dqa))
        pm = generate_preset_pass_manager(
            optimization_level=2, target=target, scheduling_method=DEFAULT_PLUGIN, seed_transpiler=SEED
        )
        # Today: bind, transpile and convert every point (the pass manager is even built once for them).
        # Transpiling is timed on a sample and scaled to every point; the batch then runs all of them.
        sample = values[:transpile_sample]
        cpu, wall = time.process_time(), time.perf_counter()
        isa = [pm.run(circuit.assign_parameters(v)) for v in sample]
        scale = points / len(sample)
        t_cpu, t_wall = (time.process_time() - cpu) * scale, (time.perf_counter() - wall) * scale
        isa = [isa[i % len(isa)] for i in range(points)]
        cpu, wall = time.process_time(), time.perf_counter()
        results = await client.run_batch(isa, shots=shots, executor=None, progress=False).results()
        out["per_point_cpu"] = time.process_time() - cpu + t_cpu
        out["per_point_wall"] = time.perf_counter() - wall + t_wall
        out["sample"] = len(sample)
        assert len(results) == points
        del isa, results
        cpu, wall = time.process_time(), time.perf_counter()
        batch = client.run_batch(
            circuit, parameter_values=values, transpile=True, seed_transpiler=SEED, shots=shots, executor=None,
            progress=False,
        )  # fmt: skip
        results = await batch.results()
        out["once_cpu"], out["once_wall"] = time.process_time() - cpu, time.perf_counter() - wall
        assert len(results) == points
        # The CPU stage alone, per point: bind + conversion + JSON (no server, no polling).
        sweep = SweepInput([circuit], [values])
        params = JobParameters(shots=shots, calibration_set_id=dqa.calibration_set_id)
        spec = resolve_transpile(True, dqa, qubit_names(dqa), optimization_level=2, seed_transpiler=SEED)
        settings = StageSettings(tuple(qubit_names(dqa)), dqa, params, 8 * 1024 * 1024, spec)
        ranges = [(a, min(a + 100, points)) for a in range(0, points, 100)]
        pipeline = Pipeline(sweep, settings, ranges, None)
        await pipeline.build_templates()
        cpu = time.process_time()
        async for parts in pipeline.parts():
            for part in parts:
                part.body(params)
        out["bind_ms"] = (time.process_time() - cpu) / points * 1000
        cpu = time.process_time()
        from iqm_async.qiskit_convert import circuit_to_wire
        from iqm_async.sweeps.template import canonical_circuit_json

        template_isa = spec.run(circuit) if spec else circuit
        sample = values[: min(50, points)]
        for v in sample:
            canonical_circuit_json(circuit_to_wire(template_isa.assign_parameters(v), qubit_names(dqa)))
        out["fresh_ms"] = (time.process_time() - cpu) / len(sample) * 1000
    return out


# ---------------------------------------------------------------------------------------------- 2. preparation


async def prepare_all(executor: concurrent.futures.Executor | None, circuits: list[QuantumCircuit], dqa: Any) -> float:
    n = len(circuits)
    names = qubit_names(dqa)
    sweep = SweepInput(circuits)
    params = JobParameters(shots=100, calibration_set_id=dqa.calibration_set_id)
    spec = resolve_transpile(True, dqa, names, optimization_level=2, seed_transpiler=SEED)
    settings = StageSettings(tuple(names), dqa, params, 8 * 1024 * 1024, spec)
    ranges = [(a, min(a + 100, n)) for a in range(0, n, 100)]
    started = time.perf_counter()
    pipeline = Pipeline(sweep, settings, ranges, executor)
    count = 0
    async for parts in pipeline.parts():
        count += sum(p.stop - p.start for p in parts)
    assert count == n
    return time.perf_counter() - started


async def preparation_rows(url: str, n: int) -> dict[str, float]:
    async with AsyncIQMClient(url, **FAST) as client:
        dqa = await client.dynamic_architecture()
    circuits = [distinct_circuit(i) for i in range(n)]  # made beforehand: the user's work, not the batch's
    out = {"serial": await prepare_all(None, circuits, dqa)}
    pool, owned = choose_executor("auto", SweepInput(Lazy(n)), True)
    assert pool is not None and owned
    try:
        out["pool"] = await prepare_all(pool, circuits, dqa)  # the workers start on the first chunk: timed too
    finally:
        pool.shutdown()
    try:
        import distributed
    except ImportError:
        return out
    started = time.perf_counter()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        out["dask_startup"] = time.perf_counter() - started
        out["dask"] = await prepare_all(dask_client.get_executor(), circuits, dqa)
    return out


# ---------------------------------------------------------------------------------------------- 3. first submit


async def first_submit(url: str, circuits: list[QuantumCircuit], stream: bool) -> float:
    control(url, "reset", "POST")
    control(url, "hold", "POST")
    async with AsyncIQMClient(url, **FAST) as client:
        await client.dynamic_architecture()
        started = time.perf_counter()
        with anyio.CancelScope() as scope:
            async with client.run_batch(
                circuits, transpile=True, seed_transpiler=SEED, shots=10, stream=stream, progress=False
            ) as batch:
                while not batch.job_ids:  # noqa: ASYNC110  (a benchmark's stopwatch, 5 ms resolution)
                    await anyio.sleep(0.005)
                elapsed = time.perf_counter() - started
                scope.cancel()  # stop the local work; the held jobs stay on the server
    control(url, "reset", "POST")
    control(url, "release", "POST")
    return elapsed


# ---------------------------------------------------------------------------------------------- 4. memory

RSS_CHILD = """
import json, sys
import anyio, numpy as np, psutil
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy

url, n = sys.argv[1], int(sys.argv[2])
theta = Parameter("theta")
qc = QuantumCircuit(3, 3, name="rx_sweep")
qc.r(theta, 0.0, 0); qc.r(theta / 2, 0.0, 1); qc.r(2 * theta, 0.0, 2)
qc.measure(range(3), range(3))

async def main():
    async with AsyncIQMClient(url, rate_limit=RateLimitPolicy(enabled=False)) as client:
        await client.dynamic_architecture()
        with anyio.CancelScope() as scope:
            async with client.run_batch(qc, parameter_values=np.linspace(0, 6.28, n).reshape(n, 1), shots=100,
                                        circuits_per_job=1, max_in_flight=n, executor=None, progress=False) as batch:
                while len(batch.job_ids) < n:
                    await anyio.sleep(0.2)
                await anyio.sleep(3)  # a round of polls of the deep queue
                from iqm_async.batch import scheduler_for
                # RSS now, with every job tracked (ru_maxrss would carry the parent's peak over from fork).
                rss = psutil.Process().memory_info().rss / 1e6
                print(json.dumps({"tracked": scheduler_for(client).stats.tracked, "rss_mb": rss}), flush=True)
                scope.cancel()

anyio.run(main)
"""


def rss_row(url: str, jobs: int) -> dict[str, Any]:
    control(url, "reset", "POST")
    control(url, "hold", "POST")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RSS_CHILD), url, str(jobs)],
            capture_output=True, text=True, cwd=ROOT, timeout=1800,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        control(url, "reset", "POST")
        control(url, "release", "POST")


# ---------------------------------------------------------------------------------------------- 5. primitives


def primitive_rows(url: str, bindings: int) -> dict[str, float]:
    from qiskit.circuit.library import real_amplitudes
    from qiskit.primitives import BackendSamplerV2

    from iqm_sync_shim import IQMProvider, SamplerV2

    out: dict[str, float] = {}
    with IQMProvider(url, **FAST) as provider:
        backend = provider.get_backend()
        from qiskit import transpile

        isa = transpile(real_amplitudes(4, reps=2).measure_all(inplace=False), backend, seed_transpiler=SEED)
        values = np.random.default_rng(SEED).uniform(0, 6.28, size=(bindings, isa.num_parameters))
        for name, sampler in (("ours", SamplerV2(backend)), ("qiskit", BackendSamplerV2(backend=backend))):
            before = control(url, "stats")["requests"]
            started = time.perf_counter()
            result = sampler.run([(isa, values)], shots=100).result()
            out[f"{name}_wall"] = time.perf_counter() - started
            out[f"{name}_requests"] = control(url, "stats")["requests"] - before
            assert result[0].data.meas.shape == (bindings,)
    return out


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    args = parser.parse_args()
    points, distinct, first, rss, bindings = (
        (100, 500, 1000, 1000, 200) if args.quick else (1000, 5000, 10_000, 10_000, 1000)
    )
    sample = min(points, 100)
    rows: list[tuple[str, str, str, str]] = []
    with server() as url:
        s = anyio.run(sweep_rows, url, points, 100, sample)
        rows.append(
            (f"{points}-point sweep, 20 qubits depth 20: client CPU s*", f"{s['once_cpu']:.2f}",
             f"{s['per_point_cpu']:.2f}", f"{s['per_point_cpu'] / s['once_cpu']:.1f}x less")
        )  # fmt: skip
        rows.append(
            ("  wall s (server included)*", f"{s['once_wall']:.2f}", f"{s['per_point_wall']:.2f}",
             f"{s['per_point_wall'] / s['once_wall']:.1f}x faster")
        )  # fmt: skip
        rows.append(
            ("  one point: bind + convert + JSON vs convert + JSON, ms", f"{s['bind_ms']:.2f}", f"{s['fresh_ms']:.2f}",
             f"{s['fresh_ms'] / s['bind_ms']:.1f}x less")
        )  # fmt: skip
        p = anyio.run(preparation_rows, url, distinct)
        serial = distinct / p["serial"]
        rows.append((f"{distinct} distinct 10-qubit circuits: serial, circuits/s", f"{serial:.0f}", "", "1.0x"))
        rows.append(
            ("  default process pool, circuits/s", f"{distinct / p['pool']:.0f}", f"{serial:.0f}",
             f"{p['serial'] / p['pool']:.2f}x on {os.cpu_count()} cores")
        )  # fmt: skip
        if "dask" in p:
            rows.append(
                (f"  Dask LocalCluster, 2 workers (+{p['dask_startup']:.1f} s start-up), circuits/s",
                 f"{distinct / p['dask']:.0f}", f"{serial:.0f}", f"{p['serial'] / p['dask']:.2f}x")
            )  # fmt: skip
        circuits = [distinct_circuit(i) for i in range(first)]
        streamed = anyio.run(first_submit, url, circuits, True)
        whole = anyio.run(first_submit, url, circuits, False)
        del circuits
        rows.append(
            (f"time to first submit, {first} circuits (transpiled), s", f"{streamed:.2f}", f"{whole:.2f}",
             f"{whole / streamed:.1f}x sooner")
        )  # fmt: skip
        m = rss_row(url, rss)
        rows.append((f"RSS of a client tracking {m['tracked']} jobs of a sweep, MB", f"{m['rss_mb']:.0f}", "", "< 200"))
        q = primitive_rows(url, bindings)
        rows.append(
            (f"SamplerV2 vs BackendSamplerV2, {bindings} bindings: wall s", f"{q['ours_wall']:.2f}",
             f"{q['qiskit_wall']:.2f}", f"{q['qiskit_wall'] / q['ours_wall']:.1f}x faster")
        )  # fmt: skip
        rows.append(
            ("  requests sent", f"{q['ours_requests']:.0f}", f"{q['qiskit_requests']:.0f}",
             f"{q['qiskit_requests'] / max(1, q['ours_requests']):.2f}x")
        )  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'ours':>9}  {'baseline':>9}  ratio")
    print("-" * (width + 36))
    for what, ours, base, ratio in rows:
        print(f"{what.ljust(width)}  {ours:>9}  {base:>9}  {ratio}")
    print("-" * (width + 36))
    print(f"* baseline: transpiling timed on {sample} points and scaled to {points}; its batch ran every point")
    print(
        f"machine: {os.cpu_count()} cores; baselines: per-point transpile, serial preparation, prepare-all-first, "
        "Qiskit's BackendSamplerV2 over our backend; server in a subprocess (Garnet's shape, no rate limit)"
    )


if __name__ == "__main__":
    main()
