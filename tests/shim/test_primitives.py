"""Qiskit's backend primitives run unchanged on the facade (Qiskit/qiskit#15694: samples must not be all zeros)."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.quantum_info import SparsePauliOp

from iqm_async.server import RunningServer
from iqm_sync_shim import IQMBackend

SHOTS = 4000


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    return qc


def test_backend_sampler_v2_samples_a_bell_state(backend: IQMBackend, srv: RunningServer) -> None:
    qc = bell()
    qc.measure_all()
    isa = transpile(qc, backend, seed_transpiler=11)
    result = BackendSamplerV2(backend=backend).run([isa], shots=SHOTS).result()
    bits = result[0].data.meas
    counts = bits.get_counts()
    assert bits.num_shots == SHOTS
    assert set(counts) == {"00", "11"}, counts  # never all zeros, never a 01/10
    p11 = counts["11"] / SHOTS
    # Binomial(4000, 0.5): 5 standard deviations is 0.04.
    assert abs(p11 - 0.5) < 0.04, counts


def test_backend_estimator_v2_bell_expectation_values(backend: IQMBackend, srv: RunningServer) -> None:
    isa = transpile(bell(), backend, seed_transpiler=11)
    observables = [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "ZI", "IZ", "XX")]
    precision = 1 / np.sqrt(SHOTS)
    result = (
        BackendEstimatorV2(backend=backend, options={"default_precision": precision}).run([(isa, observables)]).result()
    )
    zz, zi, iz, xx = result[0].data.evs
    assert zz == 1.0 and xx == 1.0  # ideal simulation: perfectly correlated in both bases
    # <ZI> and <IZ> are means of ±1 over ~4000 shots: 5 standard deviations is about 0.08.
    assert abs(zi) < 0.08 and abs(iz) < 0.08, (zi, iz)
