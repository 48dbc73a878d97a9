"""The CPU stage gives the same job bodies byte for byte wherever it ran: inline, a process pool, a Dask cluster."""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes

from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy
from iqm_async.models import JobParameters
from iqm_async.sweeps import Pipeline, StageSettings, SweepInput, resolve_transpile
from tests.helpers import CALSET, make_dqa

NAMES = [f"QB{i}" for i in range(1, 7)]
DQA = make_dqa(NAMES, [(NAMES[i], NAMES[i + 1]) for i in range(5)])


def inputs() -> tuple[list[QuantumCircuit], list[object]]:
    """Distinct random-ish circuits to transpile, plus one parameterised ansatz with a block of points."""
    circuits: list[QuantumCircuit] = []
    rng = np.random.default_rng(3)
    for k in range(12):
        qc = QuantumCircuit(4, name=f"c{k}")
        for _ in range(6):
            a, b = rng.choice(4, size=2, replace=False)
            qc.h(int(a))
            qc.cx(int(a), int(b))
            qc.rz(float(rng.uniform(0, 3)), int(b))
        qc.measure_all()
        circuits.append(qc)
    ansatz = real_amplitudes(4, reps=2).measure_all(inplace=False)
    circuits.append(ansatz)
    values: list[object] = [None] * 12 + [rng.uniform(0, 6, size=(25, ansatz.num_parameters))]
    return circuits, values


async def bodies(executor: concurrent.futures.Executor | None) -> list[bytes]:
    circuits, values = inputs()
    sweep = SweepInput(circuits, values)
    params = JobParameters(shots=100, calibration_set_id=CALSET)
    spec = resolve_transpile(True, DQA, NAMES, optimization_level=2, seed_transpiler=1234)
    settings = StageSettings(tuple(NAMES), DQA, params, 8 * 1024 * 1024, spec)
    ranges = [(a, min(a + 5, sweep.total)) for a in range(0, sweep.total, 5)]
    pipeline = Pipeline(sweep, settings, ranges, executor)
    await pipeline.build_templates()
    out = []
    async for parts in pipeline.parts():
        out.extend(part.body(params) for part in parts)
    return out


@pytest.fixture(scope="module")
def inline_bodies() -> list[bytes]:
    import anyio

    return anyio.run(bodies, None)


def forkserver_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


async def test_a_process_pool_gives_the_same_bodies_as_inline(inline_bodies: list[bytes]) -> None:
    assert len(inline_bodies) == 8  # 37 items in jobs of 5
    with forkserver_pool(2) as pool:
        assert await bodies(pool) == inline_bodies


async def test_dask_distributed_runs_the_stage_unchanged(inline_bodies: list[bytes], server) -> None:
    distributed = pytest.importorskip("distributed")
    async with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, asynchronous=True
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as dask_client,
    ):
        executor = dask_client.get_executor()
        assert await bodies(executor) == inline_bodies
        # A whole batch with the cluster as its executor, end to end.
        circuits, values = inputs()
        fast = PollPolicy(first_delay=0.02, max_interval=0.1)
        async with AsyncIQMClient(server.url, poll=fast, rate_limit=RateLimitPolicy(enabled=False)) as client:
            batch = client.run_batch(
                circuits, parameter_values=values, transpile=True, seed_transpiler=1234, executor=executor,
                shots=20, circuits_per_job=5, progress=False,
            )
            results = await batch.results()
        assert len(results) == 37 and all(r.shots == 20 for r in results)
