"""``noise="calibrated"``: Aer noise from each job's calibration set, checked against what the metrics predict.

Every statistical check is a two-sided binomial z-test at |z| < 5.3 (p ≈ 1e-7), with seeded servers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from srvkit import WAIT, inst, job, measure, prx, submit

from iqm_async.calibration import CalibrationMetrics
from iqm_async.devices.calibration_data import synthetic_metrics
from iqm_async.devices.chips import chip
from iqm_async.noise import _gate_error, _process_fidelity, noise_spec
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread

NO_LIMIT = RateLimitConfig(enabled=False)
Z_MAX = 5.3


def _z(k: int, n: int, p: float) -> float:
    return (k - n * p) / math.sqrt(n * p * (1 - p))


@pytest.fixture(scope="module")
def noisy() -> Iterator[RunningServer]:
    # garnet noisy, deneb ideal: the mode is per quantum computer.
    config = ServerConfig(
        seed=21, chip="garnet", extra_chips=("deneb",), noise={"garnet": "calibrated"}, rate_limit=NO_LIMIT
    )
    with serve_in_thread(config) as running:
        yield running


@pytest.fixture
def http(noisy: RunningServer) -> Iterator[httpx.Client]:
    noisy.state.reset()
    with httpx.Client(base_url=noisy.url, timeout=30) as c:
        yield c


def _counts(server: RunningServer, http: httpx.Client, body: dict[str, object], qc: str = "garnet") -> dict[str, int]:
    job_id = submit(http, body, qc=qc)
    assert server.state.wait_for_status(job_id, timeout=WAIT) == "completed"
    counts = http.get(f"/api/v1/jobs/{job_id}/artifacts/measurement_counts").json()[0]["counts"]
    assert isinstance(counts, dict)
    return counts


def _circuit(*instructions: dict[str, object]) -> dict[str, object]:
    return {"name": "c", "instructions": list(instructions), "metadata": None}


def test_the_fitted_channels_have_the_calibrated_fidelities() -> None:
    m = synthetic_metrics(chip("garnet"))
    spec = noise_spec(m)
    for gate, locus in [("prx", ("QB1",)), ("prx", ("QB17",)), ("cz", ("QB8", "QB3")), ("cz", ("QB19", "QB20"))]:
        d = 2 ** len(locus)
        average = (d * _process_fidelity(_gate_error(spec, gate, locus)) + 1) / (d + 1)
        assert average == pytest.approx(m.fidelity(gate, locus), abs=1e-9)
        assert 0 < spec.depolarizing[gate][locus] < 0.05


def test_readout_errors_follow_the_metrics(noisy: RunningServer, http: httpx.Client) -> None:
    shots = 20_000
    qubits = ["QB1", "QB2", "QB3"]
    prep0 = _counts(noisy, http, job(_circuit(measure("m", *qubits)), shots=shots))
    metrics = noisy.state.computers["garnet"].metrics()
    assert metrics is not None
    for i, q in enumerate(qubits):
        ones = sum(n for bits, n in prep0.items() if bits[i] == "1")
        e01 = metrics.readout_errors[q][0]
        assert abs(_z(ones, shots, e01)) < Z_MAX, (q, ones / shots, e01)


def _predicted_ones(metrics: CalibrationMetrics, lam: float, q: str, gates: int) -> float:
    """P(read 1) after ``gates`` noisy X gates on |0⟩: per gate flip, T1 decay over its duration, depolarize."""
    a = math.exp(-(metrics.duration("prx", (q,)) or 0) / metrics.t1[q])
    z = 1.0
    for _ in range(gates):
        z = -z
        z = 1 - a * (1 - z)
        z = (1 - lam) * z
    p1 = (1 - z) / 2
    e01, e10 = metrics.readout_errors[q]
    return p1 * (1 - e10) + (1 - p1) * e01


@pytest.mark.parametrize("gates", [1, 9])
def test_gate_errors_follow_the_metrics_of_the_jobs_calibration_set(
    noisy: RunningServer, http: httpx.Client, gates: int
) -> None:
    # A freshly calibrated set where QB1's prx is poor (95 %): the noise must follow that set, not the old one.
    cal_id = noisy.state.add_calibration_set(alias="garnet", make_default=True, overrides={"prx": {("QB1",): 0.95}})
    metrics = noisy.state.computers["garnet"].metrics(cal_id)
    assert metrics is not None
    lam = noise_spec(metrics).depolarizing["prx"][("QB1",)]
    shots = 20_000
    body = job(_circuit(*(prx("QB1", math.pi) for _ in range(gates)), measure("m", "QB1")), shots=shots)
    counts = _counts(noisy, http, body)
    expected = _predicted_ones(metrics, lam, "QB1", gates)
    assert abs(_z(counts.get("1", 0), shots, expected)) < Z_MAX, (counts, expected)
    assert expected < 0.99 - 0.04 * (gates > 1)  # the poor gate shows: far from the ideal 1


def test_an_ideal_quantum_computer_stays_exact_beside_a_noisy_one(noisy: RunningServer, http: httpx.Client) -> None:
    body = job(_circuit(prx("QB1", math.pi), measure("m", "QB1")), shots=2000)
    assert _counts(noisy, http, body, qc="deneb") == {"1": 2000}
    assert set(_counts(noisy, http, body, qc="garnet")) == {"0", "1"}


def test_noisy_outcomes_are_reproducible_under_the_seed() -> None:
    body = job(_circuit(prx("QB1", math.pi / 2), inst("cz", "QB1", "QB2"), measure("m", "QB1", "QB2")), shots=3000)
    runs = []
    for seed in (4, 4, 5):
        with (
            serve_in_thread(seed=seed, chip="garnet", noise="calibrated", rate_limit=NO_LIMIT) as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            runs.append(_counts(server, http, body))
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_heralding_drops_the_shots_whose_herald_was_not_zero(noisy: RunningServer, http: httpx.Client) -> None:
    shots = 20_000
    qubits = ("QB1", "QB2", "QB3", "QB4")
    circuit = _circuit(*(prx(q, math.pi) for q in qubits), measure("m", *qubits))
    job_id = submit(http, job(circuit, shots=shots, heralding_mode="zeros"), qc="garnet")
    assert noisy.state.wait_for_status(job_id, timeout=WAIT) == "completed"
    rows = http.get(f"/api/v1/jobs/{job_id}/artifacts/measurements").json()[0]["m"]
    counts = http.get(f"/api/v1/jobs/{job_id}/artifacts/measurement_counts").json()[0]["counts"]
    metrics = noisy.state.computers["garnet"].metrics()
    assert metrics is not None
    keep = math.prod(1 - metrics.readout_errors[q][0] for q in qubits)
    assert len(rows) == sum(counts.values()) < shots
    assert abs(_z(len(rows), shots, keep)) < Z_MAX, (len(rows), shots * keep)
    # Without heralding, every shot comes back; on an ideal quantum computer heralding drops none.
    assert sum(_counts(noisy, http, job(circuit, shots=500)).values()) == 500
    ideal = _circuit(prx("QB1", math.pi), measure("m", "QB1"))
    assert _counts(noisy, http, job(ideal, shots=500, heralding_mode="zeros"), qc="deneb") == {"1": 500}


def test_the_noise_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="noise must be one of"):
        ServerConfig(noise="loud")
    with pytest.raises(ValueError, match="not served"):
        ServerConfig(chip="garnet", noise={"sirius": "calibrated"})
    assert ServerConfig(chip="garnet", noise={"garnet": "calibrated"}).noise_for("garnet") == "calibrated"


def _predicted_populations(metrics: CalibrationMetrics, a: str, b: str, czs: int) -> dict[str, float]:
    """Exact P(read ab) after X on both qubits and ``czs`` noisy CZs: every channel keeps diagonal states diagonal.

    Populations are a 2×2 array over (bit of a, bit of b). Per gate: each touched qubit decays 1→0 with
    probability 1 - e^(-t/T1) (T2 does not touch populations), then depolarizing λ mixes towards uniform.
    """
    spec = noise_spec(metrics)
    p = np.zeros((2, 2))
    p[0, 0] = 1.0

    def relax(p: np.ndarray, axis: int, seconds: float, qubit: str) -> np.ndarray:
        keep = math.exp(-seconds / metrics.t1[qubit])
        out = p.copy()
        if axis == 0:
            out[0, :] += (1 - keep) * p[1, :]
            out[1, :] = keep * p[1, :]
        else:
            out[:, 0] += (1 - keep) * p[:, 1]
            out[:, 1] = keep * p[:, 1]
        return out

    for axis, q in ((0, a), (1, b)):  # the X gates
        p = np.flip(p, axis=axis)
        p = relax(p, axis, metrics.duration("prx", (q,)) or 0.0, q)
        lam = spec.depolarizing["prx"][(q,)]
        marginal = p.sum(axis=axis, keepdims=True)
        p = (1 - lam) * p + lam * marginal / 2
    lam2 = spec.depolarizing["cz"].get((a, b), spec.depolarizing["cz"].get((b, a)))
    assert lam2 is not None
    t_cz = metrics.duration("cz", (a, b)) or 0.0
    for _ in range(czs):
        p = relax(relax(p, 0, t_cz, a), 1, t_cz, b)
        p = (1 - lam2) * p + lam2 / 4
    read = {}
    for q in (a, b):
        e01, e10 = metrics.readout_errors[q]
        read[q] = np.array([[1 - e01, e01], [e10, 1 - e10]])  # [true bit][read bit]
    out = np.einsum("ij,ik,jl->kl", p, read[a], read[b])
    return {f"{i}{j}": float(out[i, j]) for i in range(2) for j in range(2)}


def test_cz_errors_follow_the_metrics_of_the_coupler(noisy: RunningServer, http: httpx.Client) -> None:
    # One poor coupler (80 %) and one as calibrated: each must show exactly its own error.
    cal_id = noisy.state.add_calibration_set(alias="garnet", make_default=True, overrides={"cz": {("QB1", "QB2"): 0.8}})
    metrics = noisy.state.computers["garnet"].metrics(cal_id)
    assert metrics is not None
    shots, czs = 20_000, 3
    for a, b in (("QB1", "QB2"), ("QB19", "QB20")):
        body = job(
            _circuit(prx(a, math.pi), prx(b, math.pi), *(inst("cz", a, b) for _ in range(czs)), measure("m", a, b)),
            shots=shots,
        )
        counts = _counts(noisy, http, body)
        expected = _predicted_populations(metrics, a, b, czs)
        for bits, p in expected.items():
            assert abs(_z(counts.get(bits, 0), shots, p)) < Z_MAX, (a, b, bits, counts, expected)
    bad = _predicted_populations(metrics, "QB1", "QB2", czs)["11"]
    good = _predicted_populations(metrics, "QB19", "QB20", czs)["11"]
    assert bad < good - 0.2  # the poor coupler is visible
