"""Helpers of the star-chip tests: chips, circuit families, the MOVE-as-SWAP simulation and the chi-squared test."""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import QFTGate
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Statevector
from scipy.stats import chi2

from iqm_async.models import CircuitJobDefinition, JobParameters
from iqm_async.qiskit_convert import circuits_to_wire, qubit_names
from iqm_async.server.chip import build_dqa
from iqm_async.server.config import ServerConfig
from iqm_async.transpiler import IQMCircuit, build_target
from iqm_async.validation import validate_job

P_MIN = 1e-6
"""A correct routing fails the chi-squared test with this probability: never, with fixed seeds."""


def star_dqa(n: int, layout: str = "star") -> Any:
    return build_dqa(ServerConfig(qubits=n, layout=layout))  # type: ignore[arg-type]


def stand_in(n: int, layout: str = "star") -> Any:
    """What ``transpile_to_IQM`` needs of a backend (its target), without a server."""
    dqa = star_dqa(n, layout)
    return types.SimpleNamespace(target=build_target(dqa, qubit_names(dqa)), architecture=dqa)


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(1, n):
        qc.cx(i - 1, i)
    return qc


def qft(n: int, seed: int) -> QuantumCircuit:
    """A QFT on a random product state, so its output distribution is not trivial."""
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n, name=f"qft{n}")
    for q in range(n):
        qc.u(*rng.uniform(0, 2 * math.pi, 3), q)
    qc.append(QFTGate(n), range(n))
    return qc.decompose(reps=2)


def rand(n: int, depth: int, seed: int) -> QuantumCircuit:
    qc = random_circuit(n, depth, max_operands=2, seed=seed)
    qc.name = f"rand{n}_{seed}"
    return qc


def with_moves(n: int, depth: int, seed: int) -> IQMCircuit:
    """A random circuit that already contains valid MOVE sandwiches through resonator wire ``n``."""
    rng = np.random.default_rng(seed)
    qc = IQMCircuit(n + 1, name=f"moves{n}_{seed}")
    r = n
    for _ in range(depth):
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        qc.u(*rng.uniform(0, 2 * math.pi, 3), a)
        qc.u(*rng.uniform(0, 2 * math.pi, 3), b)
        if rng.random() < 0.5:
            qc.move(a, r)
            qc.cz(b, r)
            others = [int(c) for c in rng.choice([q for q in range(n) if q not in (a, b)], 1)]
            qc.cz(others[0], r)
            qc.move(a, r)
        else:
            qc.cx(a, b)
    return qc


def measured(qc: QuantumCircuit, qubits: int | None = None) -> QuantumCircuit:
    """``qc`` with its first ``qubits`` qubits measured into a register of that size."""
    n = qc.num_qubits if qubits is None else qubits
    out = qc.copy()
    out.add_register(__import__("qiskit").ClassicalRegister(n, "c"))
    out.measure(range(n), range(n))
    return out


def ideal(qc: QuantumCircuit, qubits: int | None = None) -> dict[str, float]:
    """Ideal outcome probabilities of the first ``qubits`` qubits (bit 0 rightmost); MOVE simulated as a SWAP."""
    n = qc.num_qubits if qubits is None else qubits
    probs = Statevector(as_swaps(qc)).probabilities_dict(qargs=list(range(n)))
    return {k: v for k, v in probs.items() if v > 1e-12}


def as_swaps(qc: QuantumCircuit) -> QuantumCircuit:
    """A copy of ``qc`` without measurements, MOVE replaced by SWAP (the embedded server does the same)."""
    sim = QuantumCircuit(qc.num_qubits)
    for inst in qc.data:
        idx = [qc.find_bit(q).index for q in inst.qubits]
        if inst.operation.name == "move":
            sim.swap(*idx)
        elif inst.operation.name not in ("measure", "barrier"):
            sim.append(inst.operation, idx)
    return sim


def routed_distribution(routed: QuantumCircuit, n_virtual: int) -> dict[str, float]:
    """Probabilities of the routed circuit's virtual qubits ``0 … n_virtual-1``, read through its final layout."""
    final = routed.layout.final_index_layout()[:n_virtual] if routed.layout else list(range(n_virtual))
    probs = Statevector(as_swaps(routed)).probabilities_dict(qargs=final)
    return {k: v for k, v in probs.items() if v > 1e-12}


def chi_squared_p(counts: Mapping[str, int], expected: Mapping[str, float]) -> float:
    """p-value of the counts under the expected distribution, with bins under 5 expected counts pooled."""
    shots = sum(counts.values())
    outcomes = set(expected) | set(counts)
    big = [k for k in outcomes if expected.get(k, 0.0) * shots >= 5]
    small = [k for k in outcomes if k not in big]
    observed = [counts.get(k, 0) for k in big]
    exp = [expected[k] * shots for k in big]
    if small:
        observed.append(sum(counts.get(k, 0) for k in small))
        exp.append(max(sum(expected.get(k, 0.0) for k in small) * shots, 1e-9))
    if len(exp) < 2:
        return 1.0 if sum(observed) == shots else 0.0
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, exp))
    return float(chi2.sf(stat, len(exp) - 1))


def wire_valid(routed: QuantumCircuit, dqa: Any) -> None:
    """Raise unless the server's own validator accepts the routed circuit (MOVE rules included)."""
    wire = circuits_to_wire(routed, qubit_names(dqa))
    validate_job(CircuitJobDefinition(wire, JobParameters(shots=1)), dqa, require_measurements=False)
