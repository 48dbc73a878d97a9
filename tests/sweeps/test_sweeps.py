"""Transpile once, bind many: templates equal per-point conversion, sweeps run end to end, errors name the item."""

from __future__ import annotations

import concurrent.futures
import json
import math
import threading
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives import BindingsArray
from qiskit.transpiler import generate_preset_pass_manager

from iqm_async import (
    AsyncIQMClient,
    BatchError,
    CircuitTranspilationError,
    CircuitValidationError,
    NotSubmittedError,
    PollPolicy,
    RateLimitPolicy,
)
from iqm_async.qiskit_convert import circuit_to_wire
from iqm_async.sweeps import WireTemplate
from iqm_async.sweeps.template import canonical_circuit_json
from iqm_async.transpiler import DEFAULT_PLUGIN, build_target
from tests.helpers import make_dqa

FAST = {
    "poll": PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1),
    "rate_limit": RateLimitPolicy(enabled=False),
}
NAMES = [f"QB{i}" for i in range(1, 7)]
DQA = make_dqa(NAMES, [(NAMES[i], NAMES[i + 1]) for i in range(5)])


def isa(circuit: QuantumCircuit, seed: int = 5) -> QuantumCircuit:
    target = build_target(DQA, NAMES)
    pm = generate_preset_pass_manager(optimization_level=1, target=target, scheduling_method=DEFAULT_PLUGIN, seed_transpiler=seed)
    return pm.run(circuit)


def assert_same_circuit(a: Any, b: Any) -> None:
    assert a.metadata == b.metadata  # names differ: assign_parameters renames its copy, a sweep keeps the name
    assert len(a.instructions) == len(b.instructions)
    for x, y in zip(a.instructions, b.instructions):
        assert (x.name, x.locus, sorted(x.args)) == (y.name, y.locus, sorted(y.args))
        for key, value in x.args.items():
            if isinstance(value, float):
                assert math.isclose(value, y.args[key], rel_tol=1e-12, abs_tol=1e-12), (key, value, y.args[key])
            else:
                assert value == y.args[key]


def expression_circuit() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(3, name="expr")
    qc.ry(a, 0)
    qc.rx(2 * a - b + 0.25, 1)  # affine in two parameters
    qc.r(a * b, b.sin(), 2)  # neither: evaluated point by point
    qc.cx(0, 1)
    qc.rz(b, 1)
    qc.cx(1, 2)
    qc.measure_all()
    return qc


@pytest.mark.parametrize("make", [lambda: real_amplitudes(4, reps=2).measure_all(inplace=False), expression_circuit])
def test_a_bound_template_equals_converting_the_bound_circuit(make: Callable[[], QuantumCircuit]) -> None:
    circuit = isa(make())
    template = WireTemplate(circuit, NAMES)
    rng = np.random.default_rng(7)
    points = rng.uniform(-4, 4, size=(6, circuit.num_parameters))
    for row, angles in zip(points, template.slot_values(points)):
        bound, encoded = template.bind(angles)
        reference = circuit_to_wire(circuit.assign_parameters(row), NAMES)
        assert_same_circuit(bound, reference)
        assert bound.name == circuit.name
        # The JSON built from fragments is exactly the canonical encoding of the bound circuit.
        assert encoded == canonical_circuit_json(bound)


def test_a_template_shares_every_instruction_whose_angle_does_not_change() -> None:
    circuit = isa(real_amplitudes(4, reps=2).measure_all(inplace=False))
    template = WireTemplate(circuit, NAMES)
    angles = template.slot_values(np.ones((2, circuit.num_parameters)))
    one, _ = template.bind(angles[0])
    two, _ = template.bind(angles[1])
    changed = {slot.position for slot in template.slots}
    assert changed and len(changed) < len(one.instructions)
    for pos, (x, y) in enumerate(zip(one.instructions, two.instructions)):
        assert (x is y) == (pos not in changed)


def test_non_finite_angles_and_parameterised_delays_are_refused() -> None:
    circuit = isa(real_amplitudes(2, reps=1).measure_all(inplace=False))
    template = WireTemplate(circuit, NAMES)
    bad = np.zeros((3, circuit.num_parameters))
    bad[2, 0] = np.nan
    with pytest.raises(CircuitValidationError, match="Point 2"):
        template.slot_values(bad)
    t = Parameter("t")
    qc = QuantumCircuit(1, 1)
    qc.delay(t, 0, unit="s")
    qc.measure(0, 0)
    with pytest.raises(CircuitValidationError, match="delay"):
        WireTemplate(qc, NAMES)


def rx_sweep() -> QuantumCircuit:
    theta = Parameter("theta")
    qc = QuantumCircuit(2, name="rx_sweep")
    qc.h(0)
    qc.rx(theta, 1)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


async def test_a_sweep_is_transpiled_once_bound_per_point_and_agrees_with_theory(server) -> None:
    thetas = np.linspace(0, math.pi, 12).reshape(3, 4, 1)
    shots = 2000
    async with AsyncIQMClient(server.url, **FAST) as client:
        batch = client.run_batch(
            [rx_sweep(), rx_sweep()], parameter_values=[thetas, {"theta": [0.0, math.pi]}], transpile=True,
            seed_transpiler=11, shots=shots, circuits_per_job=5, progress=False, executor=None,
        )
        results = await batch.results()
        assert len(results) == 14 and len(batch.job_ids) == 3
        assert batch.locate(7) == (0, (1, 3))
        assert batch.locate(12) == (1, (0,))
    for i, result in enumerate(results):
        source, point = batch.locate(i)
        theta = thetas[point][0] if source == 0 else [0.0, math.pi][point[0]]
        # Bit 1 (qubit 1 after the CX) is 1 with probability sin²(θ/2) XOR bit 0: bit 0 ⊕ bit 1 = rx's outcome.
        ones = sum(n for bits, n in result.counts.items() if bits[0] != bits[1])
        p = math.sin(theta / 2) ** 2
        sigma = math.sqrt(max(p * (1 - p), 1e-4) / shots)
        assert abs(ones / shots - p) < 6 * sigma + 1e-9, (i, ones, p)


async def test_bindings_arrays_and_single_points_are_accepted(server) -> None:
    qc = rx_sweep()
    async with AsyncIQMClient(server.url, **FAST) as client:
        batch = client.run_batch(
            qc, parameter_values=BindingsArray({tuple(qc.parameters): np.array([[0.0], [math.pi]])}),
            transpile=True, shots=100, progress=False,
        )
        results = await batch.results()
        assert [sum(n for b, n in r.counts.items() if b[0] != b[1]) for r in results] == [0, 100]
        single = await client.run_batch(qc, parameter_values=[math.pi], transpile=True, shots=50, progress=False).results()
        assert len(single) == 1


async def test_bad_parameter_values_and_transpile_errors_fail_before_anything_is_sent(server) -> None:
    too_wide = QuantumCircuit(30, 30, name="wide")
    too_wide.h(range(30))
    too_wide.measure(range(30), range(30))
    fine = QuantumCircuit(1, 1)
    fine.h(0)
    fine.measure(0, 0)
    async with AsyncIQMClient(server.url, **FAST) as client:
        with pytest.raises(CircuitTranspilationError, match="Circuit 3 of the batch"):
            await client.run_batch([fine, fine, fine, too_wide, fine], transpile=True, progress=False).results()
        with pytest.raises(CircuitValidationError, match=r"parameter_values\[0\] has shape \(4,\).*1 parameters"):
            await client.run_batch([rx_sweep()], parameter_values=[np.zeros(4)], transpile=True, progress=False).results()
        with pytest.raises(CircuitValidationError, match="2 entries for 1 circuits"):
            await client.run_batch([rx_sweep()], parameter_values=[None, None], progress=False).results()
        with pytest.raises(CircuitTranspilationError, match=r"input circuit 1, point 0"):
            await client.run_batch(
                [fine, too_wide.assign_parameters({}), fine], parameter_values=[None, np.zeros((2, 0)), None],
                transpile=True, progress=False,
            ).results()
        with pytest.raises(CircuitValidationError, match="not natively supported"):
            await client.run_batch([fine], progress=False).results()  # h is not native: transpile= was forgotten
    assert server.state.store.jobs_created == 0


class GatedExecutor(concurrent.futures.Executor):
    """Runs the first chunk at once and every later one only after ``gate`` is set (in a thread of the test)."""

    def __init__(self, gate: threading.Event):
        self.gate = gate
        self.calls = 0
        self.pool = concurrent.futures.ThreadPoolExecutor(2)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.calls += 1
        if self.calls == 1:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_result(fn(*args, **kwargs))
            return future

        def later() -> Any:
            assert self.gate.wait(30), "the first job was never submitted"
            return fn(*args, **kwargs)

        return self.pool.submit(later)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def native(k: int, n: int = 1) -> QuantumCircuit:
    qc = QuantumCircuit(n, n, name=f"c{k}")
    qc.r(k * 0.1, 0.0, 0)
    qc.measure(range(n), range(n))
    return qc


async def test_streamed_preparation_submits_the_first_job_before_the_rest_is_prepared(server) -> None:
    gate = threading.Event()
    executor = GatedExecutor(gate)
    watcher = threading.Thread(target=lambda: server.state.wait_for(lambda: server.state.store.jobs_created >= 1, 30) and gate.set())
    watcher.start()
    try:
        async with AsyncIQMClient(server.url, **FAST) as client:
            with anyio.fail_after(60):
                batch = client.run_batch(
                    [native(k) for k in range(40)], shots=10, circuits_per_job=10, executor=executor, stream=True,
                    progress=False,
                )
                results = await batch.results()
        assert len(results) == 40 and len(batch.job_ids) == 4
        assert executor.calls == 4
    finally:
        gate.set()
        watcher.join()
        executor.shutdown()


async def test_a_streamed_batch_that_meets_a_bad_circuit_stops_submitting_and_says_which(server) -> None:
    circuits = [native(k) for k in range(30)]
    circuits[17] = native(17, n=40)  # more qubits than the chip
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        async with AsyncIQMClient(server.url, **FAST) as client:
            batch = client.run_batch(circuits, shots=10, circuits_per_job=5, executor=executor, stream=True, progress=False)
            with pytest.raises(BatchError) as caught:
                await batch.results()
    outcomes = {o.index: o for o in caught.value.failures}
    assert set(outcomes) == set(range(15, 30))
    assert isinstance(outcomes[17].error, CircuitValidationError) and "Circuit 17 of the batch" in str(outcomes[17].error)
    assert all(isinstance(outcomes[i].error, NotSubmittedError) for i in range(20, 30))
    assert outcomes[25].error.reason == "preparation_failed"  # type: ignore[union-attr]
    assert batch.preparation_error is outcomes[15].error
    assert len(batch.job_ids) == 3 and server.state.store.jobs_created == 3


async def test_a_journaled_sweep_resumes_with_the_same_values(server, tmp_path) -> None:
    journal = tmp_path / "sweep.jsonl"
    values = np.linspace(0, 1, 6).reshape(6, 1)
    async with AsyncIQMClient(server.url, **FAST) as client:
        first = client.run_batch(
            rx_sweep(), parameter_values=values, transpile=True, seed_transpiler=2, shots=10, circuits_per_job=2,
            journal=journal, progress=False,
        )
        await first.results()
        lines = journal.read_text().splitlines()
        kept = [ln for ln in lines if not (json.loads(ln).get("group") == 2 and "job_id" in json.loads(ln))]
        journal.write_text("\n".join(kept) + "\n")
        with pytest.raises(Exception, match="hash mismatch"):
            await client.resume_batch(journal, circuits=[rx_sweep()], parameter_values=[values * 2], transpile=True,
                                      seed_transpiler=2, progress=False).results()
        resumed = client.resume_batch(
            journal, circuits=[rx_sweep()], parameter_values=[values], transpile=True, seed_transpiler=2,
            progress=False,
        )
        assert len(await resumed.results()) == 6
    assert server.state.store.jobs_created == 4


def test_the_default_executor_is_inline_for_small_batches_and_a_pool_for_large_ones() -> None:
    from iqm_async.sweeps import POOL_MIN_TRANSPILES, SweepInput
    from iqm_async.sweeps.pipeline import choose_executor

    small = SweepInput([native(k) for k in range(10)])
    assert choose_executor("auto", small, True) == (None, False)
    sweep = SweepInput([rx_sweep()], [np.zeros((100_000, 1))])  # one template: binding is cheap
    assert choose_executor("auto", sweep, True) == (None, False)
    large = SweepInput([native(0)] * POOL_MIN_TRANSPILES)
    executor, owned = choose_executor("auto", large, True)
    try:
        assert isinstance(executor, concurrent.futures.ProcessPoolExecutor) and owned
        assert executor._mp_context.get_start_method() in ("forkserver", "spawn")  # never fork: Qiskit has threads
    finally:
        assert executor is not None
        executor.shutdown()
    assert choose_executor(None, large, True) == (None, False)
    mine = concurrent.futures.ThreadPoolExecutor(1)
    assert choose_executor(mine, small, False) == (mine, False)
    mine.shutdown()
    with pytest.raises(ValueError, match="Executor"):
        choose_executor("threads", small, False)  # type: ignore[arg-type]


async def test_the_default_pool_prepares_a_large_batch_and_streams_it(server, monkeypatch) -> None:
    import iqm_async.sweeps.pipeline as pipeline

    monkeypatch.setattr(pipeline, "POOL_MIN_TRANSPILES", 10)  # "large" for this test: the real threshold is 1,000
    made: list[concurrent.futures.Executor] = []
    real = pipeline._process_pool

    def recording(workers: int) -> concurrent.futures.Executor:
        made.append(real(workers))
        return made[-1]

    monkeypatch.setattr(pipeline, "_process_pool", recording)
    circuits = []
    for k in range(30):
        qc = QuantumCircuit(2, name=f"c{k}")
        qc.ry(k * 0.1, 0)
        qc.cx(0, 1)
        qc.measure_all()
        circuits.append(qc)
    async with AsyncIQMClient(server.url, **FAST) as client:
        batch = client.run_batch(circuits, transpile=True, seed_transpiler=3, shots=40, circuits_per_job=10, progress=False)
        results = await batch.results()
    assert len(made) == 1  # the pool was the batch's own ...
    assert made[0]._shutdown_thread  # type: ignore[attr-defined]  # ... and is shut down with its preparation
    assert [sum(r.counts.values()) for r in results] == [40] * 30
    assert all(set(r.counts) <= {"00", "11"} for r in results)  # a Bell-like pair, whatever the angle
    assert len(batch.job_ids) == 3
    assert "groups" not in batch.spec  # streamed by default: the jobs were cut as they were prepared
