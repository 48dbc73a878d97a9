"""``EstimatorV2``: Qiskit's estimator primitive over the async core, one circuit per commuting group and binding.

Every Pauli term of a PUB's observables goes into a group of qubit-wise commuting terms (greedily, in
order of appearance); each group is the PUB's circuit with its final measurements removed, a basis
change per measured qubit (``X``: ``r(-π/2, π/2)``, ``Y``: ``r(π/2, 0)``, native gates) and a measurement
of the group's qubits. The group circuits of all PUBs run, bound per point, through batches (one per
distinct shot count); a term's expectation is the mean parity of its qubits' bits. Shots follow
Qiskit's ``BackendEstimatorV2``: ``ceil(1 / precision²)``; the standard error of an expectation value
is ``sqrt(Σ |c|² (1 - ⟨P⟩²) / shots)``, terms counted as independent, as Qiskit's does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.circuit import ClassicalRegister, QuantumCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.primitives import BaseEstimatorV2, BasePrimitiveJob  # type: ignore[import-untyped, unused-ignore]
from qiskit.primitives.containers import (  # type: ignore[import-untyped, unused-ignore]
    DataBin,
    EstimatorPubLike,
    PrimitiveResult,
    PubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub  # type: ignore[import-untyped, unused-ignore]

from .._config import DEFAULT_BATCH_POLICY
from ..errors import UsageError
from ._run import PrimitiveRun, PrimitiveSettings, memory_values, run_items

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..client import AsyncIQMClient

__all__ = ["EstimatorV2"]

DEFAULT_PRECISION = 0.015625
"""Precision of a PUB that names none, when the estimator was given no ``default_precision`` (Qiskit's value)."""

_HALF_PI = math.pi / 2
_MEASURED = "__iqm_estimator"
"""Name of the register a group circuit measures into."""


class EstimatorV2(BaseEstimatorV2):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """Qiskit's ``BaseEstimatorV2`` over an :class:`~iqm_async.AsyncIQMClient`: ``await estimator.run_async(pubs)``.

    See the module docstring for grouping, shots and errors. Observables act on the (ISA) circuit's
    qubits, as for any Qiskit primitive; with ``transpile=`` the estimator transpiles each PUB's circuit
    once and lays the observables out on it. Blocking code uses ``iqm_sync_shim.EstimatorV2(backend)``.

    Args:
        client: an open client.
        default_precision: precision of a PUB that names none.
        transpile: ``True``, a backend or a ``Target`` to transpile for (default: circuits are ISA).
        optimization_level: see ``transpile``.
        seed_transpiler: see ``transpile``.
        executor, circuits_per_job, max_in_flight, timeout_seconds, progress, journal, tags,
        calibration_set_id, qubit_names, job_options: as for :class:`~iqm_async.primitives.SamplerV2`.
    """

    def __init__(
        self,
        client: AsyncIQMClient,
        *,
        default_precision: float = DEFAULT_PRECISION,
        transpile: Any = None,
        optimization_level: int | None = None,
        seed_transpiler: int | None = None,
        executor: Executor | str | None = "auto",
        circuits_per_job: int | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        progress: bool | None = False,
        journal: str | os.PathLike[str] | None = None,
        tags: str | Sequence[str] | None = None,
        calibration_set_id: str | None = None,
        qubit_names: Sequence[str] | None = None,
        job_options: dict[str, Any] | None = None,
    ):
        self._client = client
        self._default_precision = default_precision
        self.settings = PrimitiveSettings(
            transpile, optimization_level, seed_transpiler, executor, circuits_per_job, max_in_flight,
            timeout_seconds, progress, journal, tags, calibration_set_id, qubit_names, dict(job_options or {}),
        )  # fmt: skip

    @property
    def default_precision(self) -> float:
        """Precision of a PUB that names none."""
        return self._default_precision

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> BasePrimitiveJob:
        """Refuse: a blocking run needs the facade's portal (``iqm_sync_shim.EstimatorV2``); await :meth:`run_async`."""
        raise UsageError(
            "iqm_async.EstimatorV2 is asynchronous: `await estimator.run_async(pubs)`. In blocking code use "
            "iqm_sync_shim.EstimatorV2(backend).run(pubs).result()."
        )

    async def run_async(
        self,
        pubs: Iterable[EstimatorPubLike],
        *,
        precision: float | None = None,
        run: PrimitiveRun | None = None,
    ) -> PrimitiveResult:
        """Estimate every PUB's expectation values; return Qiskit's ``PrimitiveResult`` of ``PubResult``.

        Raises:
            BatchError: some PUBs failed; the message names each.
        """
        default = self._default_precision if precision is None else precision
        coerced = [EstimatorPub.coerce(pub, default) for pub in pubs]
        run = run or PrimitiveRun()
        plans = [await self._plan(pub) for pub in coerced]
        circuits: list[QuantumCircuit] = []
        values: list[np.ndarray | None] = []
        shots: list[int] = []
        owner: list[tuple[int, int]] = []  # (pub, group) of each circuit
        for k, plan in enumerate(plans):
            for g, group in enumerate(plan.groups):
                circuits.append(group.circuit)
                values.append(plan.values)
                shots.append(plan.shots)
                owner.append((k, g))
        items, calibration = await run_items(
            self._client, circuits, values, shots, self.settings, run, transpile=False,
            describe=lambda i: f"PUB {owner[i][0]} (measurement group {owner[i][1]})",
        )  # fmt: skip
        per_pub: list[list[list[Any]]] = [[] for _ in coerced]
        for (k, _), its in zip(owner, items):
            per_pub[k].append(its)
        results = [plan.result(its, calibration) for plan, its in zip(plans, per_pub)]
        return PrimitiveResult(results, metadata={"version": 2, "job_ids": run.job_ids})

    async def _plan(self, pub: Any) -> _PubPlan:
        circuit = pub.circuit
        observables = pub.observables
        if self.settings.transpile is not None:
            circuit, observables = await self._transpiled(circuit, observables)
        return _PubPlan(pub, circuit, observables)

    async def _transpiled(self, circuit: QuantumCircuit, observables: Any) -> tuple[QuantumCircuit, Any]:
        """Transpile one PUB's circuit as the batch would, and lay its observables out on the result."""
        from ..qiskit_convert import qubit_names as default_qubit_names
        from ..sweeps import resolve_transpile

        dqa = await self._client.dynamic_architecture(self.settings.calibration_set_id)
        names = list(self.settings.qubit_names) if self.settings.qubit_names is not None else default_qubit_names(dqa)
        spec = resolve_transpile(
            self.settings.transpile,
            dqa,
            names,
            optimization_level=self.settings.optimization_level,
            seed_transpiler=self.settings.seed_transpiler,
        )
        assert spec is not None
        isa = spec.run(circuit)
        return isa, observables.apply_layout(isa.layout)


class _Group:
    """Qubit-wise commuting Pauli terms measured by one circuit."""

    def __init__(self, basis: dict[int, str]):
        self.basis = basis  # qubit -> "X" / "Y" / "Z"
        self.terms: list[str] = []
        self.circuit: QuantumCircuit | None = None
        self.masks: dict[str, int] = {}

    def accepts(self, support: dict[int, str]) -> bool:
        return all(self.basis.get(q, p) == p for q, p in support.items())


class _PubPlan:
    """One PUB's measurement groups, points and shots, and how its results are assembled."""

    def __init__(self, pub: Any, circuit: QuantumCircuit, observables: Any):
        self.pub = pub
        self.shots = math.ceil(1.0 / pub.precision**2)
        self.observables = observables.tolist() if observables.shape else [observables.tolist()]
        self.obs_shape = observables.shape
        self.groups: list[_Group] = []
        for observable in np.ravel(np.asarray(self.observables, dtype=object)):
            for label in observable:
                support = {q: p for q, p in enumerate(reversed(label)) if p != "I"}
                if not support or any(label in g.terms for g in self.groups):
                    continue
                group = next((g for g in self.groups if g.accepts(support)), None)
                if group is None:
                    group = _Group({})
                    self.groups.append(group)
                group.basis.update(support)
                group.terms.append(label)
        base = circuit.remove_final_measurements(inplace=False)
        for group in self.groups:
            group.circuit = _measuring(base, group)
        params = pub.parameter_values
        self.param_shape = params.shape
        if params.shape == () and circuit.num_parameters == 0:
            self.values: np.ndarray | None = None
        else:
            self.values = np.asarray(params.as_array(circuit.parameters), dtype=float).reshape(
                *params.shape, circuit.num_parameters
            )

    def result(self, items: list[list[Any]], calibration: str | None) -> PubResult:
        """Combine the groups' parities into expectation values and standard errors of the PUB's shape."""
        points = max(1, math.prod(self.param_shape))
        expect: dict[str, np.ndarray] = {}
        shots = self.shots
        for group, its in zip(self.groups, items):
            assert len(its) == points
            for label, mask in group.masks.items():
                column = np.empty(points)
                for i, item in enumerate(its):
                    memory = memory_values(item.result)
                    shots = min(shots, len(memory))
                    column[i] = _parity_mean(memory, mask)
                expect[label] = column
        shape = self.pub.shape
        obs_index = np.broadcast_to(np.arange(max(1, math.prod(self.obs_shape))).reshape(self.obs_shape), shape)
        par_index = np.broadcast_to(np.arange(points).reshape(self.param_shape), shape)
        flat = list(np.ravel(np.asarray(self.observables, dtype=object)))
        evs = np.empty(shape)
        stds = np.empty(shape)
        for idx in np.ndindex(*shape):
            observable = flat[int(obs_index[idx])]
            p = int(par_index[idx])
            ev = 0.0
            var = 0.0
            for label, coeff in observable.items():
                c = complex(coeff).real
                if set(label) <= {"I"}:
                    ev += c
                    continue
                e = float(expect[label][p])
                ev += c * e
                var += c * c * (1 - e * e)
            evs[idx] = ev
            stds[idx] = math.sqrt(max(var, 0.0) / shots)
        job_ids = list(dict.fromkeys(it.job_id for its in items for it in its if it.job_id is not None))
        metadata = {
            "target_precision": self.pub.precision,
            "shots": shots,
            "circuit_metadata": self.pub.circuit.metadata,
            "job_ids": job_ids,
            "calibration_set_id": calibration,
        }
        return PubResult(DataBin(evs=evs, stds=stds, shape=shape), metadata=metadata)


def _measuring(base: QuantumCircuit, group: _Group) -> QuantumCircuit:
    """Return ``base`` with the group's basis change and measurements appended (native gates only)."""
    qubits = sorted(group.basis)
    circuit = base.copy()
    register = ClassicalRegister(len(qubits), _MEASURED)
    circuit.add_register(register)
    for q in qubits:
        if group.basis[q] == "X":
            circuit.r(-_HALF_PI, _HALF_PI, q)  # RY(-π/2): the X eigenbasis onto Z's
        elif group.basis[q] == "Y":
            circuit.r(_HALF_PI, 0.0, q)  # RX(π/2): the Y eigenbasis onto Z's
    offset = len(circuit.clbits) - len(qubits)  # the new register's bits come last
    for j, q in enumerate(qubits):
        circuit.measure(q, register[j])
    for label in group.terms:
        mask = 0
        for q, p in enumerate(reversed(label)):
            if p != "I":
                mask |= 1 << (offset + qubits.index(q))
        group.masks[label] = mask
    return circuit


def _parity_mean(memory: np.ndarray, mask: int) -> float:
    """Mean of (-1)^(popcount(shot & mask)) over the shots."""
    if memory.dtype == object:
        signs = [1 - 2 * (bin(int(v) & mask).count("1") & 1) for v in memory]
        return float(np.mean(signs))
    odd = np.bitwise_count(memory & np.uint64(mask)) & 1
    return float(1.0 - 2.0 * odd.mean())
