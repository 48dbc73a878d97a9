"""Calibration sets and quality metrics, end to end: the endpoints, plausible seeded numbers per chip, a new
default rotated in while jobs run, the core client's readers, and the facade's calibration-aware target."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator

import httpx
import pytest
from qiskit import QuantumCircuit, transpile
from srvkit import WAIT, assert_error, bell, job, submit

from iqm_async import AsyncIQMClient, CalibrationMetrics
from iqm_async.calibration import QUALITY_METRIC_SET, ObservationSet
from iqm_async.devices.calibration_data import synthetic_metrics
from iqm_async.devices.chips import chip
from iqm_async.server import RateLimitConfig, RunningServer, serve_in_thread
from iqm_sync_shim import IQMBackend, IQMProvider

NO_LIMIT = RateLimitConfig(enabled=False)


@pytest.fixture(scope="module")
def chips() -> Iterator[RunningServer]:
    with serve_in_thread(seed=11, chip="garnet", extra_chips=("sirius", "emerald"), rate_limit=NO_LIMIT) as running:
        yield running


@pytest.fixture
def http(chips: RunningServer) -> Iterator[httpx.Client]:
    chips.state.reset()
    with httpx.Client(base_url=chips.url, timeout=10) as c:
        yield c
    chips.state.release()


def _values(obs_set: dict[str, object], suffix: str) -> dict[str, float]:
    observations = obs_set["observations"]
    assert isinstance(observations, list)
    return {o["dut_field"]: o["value"] for o in observations if o["dut_field"].endswith(suffix)}


# ---------------------------------------------------------------------------------- the endpoints


def test_calibration_set_and_metrics_endpoints(chips: RunningServer, http: httpx.Client) -> None:
    default_id = chip("garnet").calibration_set_id
    cal = http.get("/api/v1/calibration-sets/garnet/default").json()
    assert cal["observation_set_id"] == default_id and cal["observation_set_type"] == "calibration-set"
    assert cal["dut_label"] == chip("garnet").dut_label and cal["describes_id"] is None
    assert http.get(f"/api/v1/calibration-sets/garnet/{default_id}").json() == cal
    met = http.get(f"/api/v1/calibration-sets/garnet/{default_id}/metrics").json()
    assert met["observation_set_type"] == QUALITY_METRIC_SET and met["describes_id"] == default_id
    assert met == http.get("/api/v1/calibration-sets/garnet/default/metrics").json()
    # IQM's names, one per qubit or per calibrated coupler.
    assert len(_values(met, ".t1_time")) == len(_values(met, ".t2_time")) == 20
    assert len(_values(met, "rb.prx.drag_gaussian.QB7.fidelity")) == 1
    assert len([k for k in _values(met, ".fidelity") if k.startswith("metrics.irb.cz.tgss.")]) == 30
    assert "metrics.irb.cz.tgss.QB8__QB3.fidelity" in _values(met, ".fidelity")  # IQM's calibrated orientation
    assert len(_values(met, ".error_0_to_1")) == len(_values(met, ".error_1_to_0")) == 20
    assert len(_values(cal, ".duration")) == 20 + 30 + 20 and len(_values(cal, "drive.frequency")) == 20
    units = {o["dut_field"].rsplit(".", 1)[1]: o["unit"] for o in cal["observations"] + met["observations"]}
    assert units["t1_time"] == units["duration"] == "s" and units["frequency"] == "Hz" and units["fidelity"] == ""
    ids = [o["observation_id"] for o in cal["observations"] + met["observations"]]
    assert len(set(ids)) == len(ids)
    # Errors as for the DQA.
    assert_error(http.get("/api/v1/calibration-sets/garnet/latest"), 422, "validation_error")
    assert_error(http.get(f"/api/v1/calibration-sets/garnet/{uuid.uuid4()}/metrics"), 404, "calibration_set_not_found")
    assert_error(http.get("/api/v1/calibration-sets/nope/default"), 404, "quantum_computer_not_found")


@pytest.mark.parametrize(
    ("name", "t1_median", "cz_error_median"),
    [("garnet", 40e-6, 5e-3), ("emerald", 40e-6, 5e-3), ("sirius", 35e-6, 1.2e-2)],
)
def test_numbers_are_plausible_for_the_chip_class(name: str, t1_median: float, cz_error_median: float) -> None:
    shape = chip(name)
    m = synthetic_metrics(shape)
    t1 = [m.t1[q] for q in shape.qubits]
    assert 0.6 * t1_median < statistics.median(t1) < 1.6 * t1_median
    assert len(set(t1)) == len(t1)  # per qubit, not a constant
    assert all(m.t2[q] <= 2 * m.t1[q] for q in shape.qubits)  # physics: T2 ≤ 2·T1
    cz_errors = [1 - f for f in m.fidelities["cz"].values()]
    assert 0.6 * cz_error_median < statistics.median(cz_errors) < 1.6 * cz_error_median
    prx = [m.fidelity("prx", (q,)) or 0.0 for q in shape.qubits]
    assert all(0.98 < f < 1 for f in prx) and 0.998 < statistics.median(prx) < 0.99995
    assert all(0.9 < m.fidelity("measure", (q,)) < 0.999 for q in shape.qubits)
    assert all(e0 < 0.2 and e1 < 0.25 for e0, e1 in m.readout_errors.values())
    if shape.is_star:
        assert set(m.fidelities["move"]) == set(shape.move_loci)
        assert m.duration("move", shape.move_loci[0]) == pytest.approx(96e-9)
    # Seeded by the calibration set: the same set gives the same numbers, another one drifts.
    assert synthetic_metrics(shape) == m
    other = synthetic_metrics(shape, str(uuid.uuid4()))
    assert other.t1 != m.t1 and abs(statistics.median(other.t1.values()) / statistics.median(t1) - 1) < 0.5


def test_the_wire_round_trip_keeps_every_number() -> None:
    m = synthetic_metrics(chip("deneb"))
    cal, met = m.to_sets("8a0b4a57-62b8-4d7c-9d4e-2e8c0b1b3f60")
    back = CalibrationMetrics.from_sets(
        ObservationSet.from_json(cal.to_json()), ObservationSet.from_json(met.to_json())
    )
    assert back == m


# ---------------------------------------------------------------------------------- rotating the default


def test_a_new_default_rotated_in_while_jobs_run(chips: RunningServer, http: httpx.Client) -> None:
    state = chips.state
    old = chip("garnet").calibration_set_id
    state.hold()
    before = submit(http, job(bell(), shots=20), qc="garnet")
    r = http.post(
        "/_control/calibration-sets",
        json={"quantum_computer": "garnet", "make_default": True, "fidelities": {"cz": {"QB1__QB2": 0.8}}},
    )
    assert r.status_code == 201
    new = r.json()["id"]
    after = submit(http, job(bell(), shots=20), qc="garnet")
    state.release()
    for job_id, calset in ((before, old), (after, new)):
        assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
        assert http.get(f"/api/v1/jobs/{job_id}").json()["compilation"]["calibration_set_id"] == calset
    assert http.get("/api/v1/calibration-sets/garnet/default").json()["observation_set_id"] == new
    fresh = _values(http.get("/api/v1/calibration-sets/garnet/default/metrics").json(), ".fidelity")
    assert fresh["metrics.irb.cz.tgss.QB1__QB2.fidelity"] == 0.8
    stale = _values(http.get(f"/api/v1/calibration-sets/garnet/{old}/metrics").json(), ".fidelity")
    assert stale["metrics.irb.cz.tgss.QB1__QB2.fidelity"] > 0.95  # the old set keeps its numbers
    bad = http.post("/_control/calibration-sets", json={"fidelities": {"cz": {"QB1__QB2": 1.5}}})
    assert_error(bad, 400, "invalid_request")


async def test_core_client_reads_sets_and_results_carry_their_set(chips: RunningServer) -> None:
    chips.state.reset()
    async with AsyncIQMClient(chips.url, quantum_computer="sirius") as client:
        metrics = await client.calibration_metrics()
        assert metrics.calibration_set_id == chip("sirius").calibration_set_id
        assert metrics == synthetic_metrics(chip("sirius"))  # exactly what the server holds
        cal = await client.calibration_set()
        assert cal.observation_set_id == metrics.calibration_set_id and cal.values()
        new = chips.state.add_calibration_set(alias="sirius", make_default=True)
        assert (await client.calibration_metrics()).calibration_set_id == new
        assert (await client.calibration_metrics(metrics.calibration_set_id)) == metrics
        qc = QuantumCircuit(1, 1)
        qc.x(0)
        qc.measure(0, 0)
        result = await (await client.submit(qc, shots=10)).result_async()
        assert result.results[0].calibration_set_id == uuid.UUID(new)  # as IQM's results carry it
        assert result.parameters.calibration_set_id == uuid.UUID(new)
        data = await client.job_data(result.job_id)
        assert data.calibration_set_id == new


# ---------------------------------------------------------------------------------- the calibration-aware target


def _expected_success(circuit: QuantumCircuit, backend: object) -> float:
    """Product of (1 - error) over every gate of a transpiled circuit, read from the metrics-carrying target."""
    target = backend.target  # type: ignore[attr-defined]
    p = 1.0
    for inst in circuit.data:
        name = inst.operation.name
        if name in ("barrier",) or name not in target.operation_names:
            continue
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        props = target[name].get(qargs)
        if props is not None and props.error is not None:
            p *= 1 - props.error
    return p


def _ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def _used(circuit: QuantumCircuit, backend: IQMBackend) -> set[str]:
    return {backend.index_to_qubit_name(circuit.find_bit(q).index) for i in circuit.data for q in i.qubits}


def test_use_metrics_target_carries_the_numbers_and_picks_better_qubits(chips: RunningServer) -> None:
    chips.state.reset()
    with IQMProvider(chips.url, quantum_computer="garnet") as provider:
        plain = provider.get_backend()
        assert plain.metrics is None
        blind = transpile(_ghz(4), plain, seed_transpiler=3, optimization_level=3)
        # Make exactly the qubits the metric-blind layout picked bad (and every coupler touching them).
        bad = _used(blind, plain)
        overrides = {
            "prx": {(q,): 0.97 for q in bad},
            "measure": {(q,): 0.8 for q in bad},
            "cz": {locus: 0.85 for locus in chip("garnet").cz_loci if set(locus) & bad},
        }
        chips.state.add_calibration_set(alias="garnet", make_default=True, overrides=overrides)
        aware = provider.get_backend(use_metrics=True)
        assert aware.metrics is not None
        some_bad = sorted(bad)[0]
        q = aware.qubit_name_to_index(some_bad)
        assert aware.target["r"][(q,)].error == pytest.approx(0.03)
        assert aware.target["measure"][(q,)].error == pytest.approx(0.2)
        assert aware.target.qubit_properties[q].t1 == aware.metrics.t1[some_bad]
        locus = next(lc for lc in chip("garnet").cz_loci if some_bad in lc)
        pair = tuple(aware.qubit_name_to_index(n) for n in locus)
        assert aware.target["cz"][pair].error == pytest.approx(0.15)
        assert aware.target["cz"][pair].duration == pytest.approx(40e-9)
        informed = transpile(_ghz(4), aware, seed_transpiler=3, optimization_level=3)
        p_blind, p_informed = _expected_success(blind, aware), _expected_success(informed, aware)
        print(
            f"\nGHZ-4 on garnet, its blind layout made bad: expected success {p_blind:.3f} blind, {p_informed:.3f} aware"
        )
        assert not _used(informed, aware) & bad
        assert p_informed > p_blind + 0.2
