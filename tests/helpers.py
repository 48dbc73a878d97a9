"""Helpers shared by several test modules: hand-built architectures and the batch tests' circuits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qiskit import QuantumCircuit

from iqm_async.models import DynamicQuantumArchitecture, GateInfo

CALSET = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"
PATTERN_WIDTH = 3


def make_dqa(
    qubits: Sequence[str],
    cz: Iterable[tuple[str, str]] = (),
    *,
    resonators: Sequence[str] = (),
    move: Iterable[tuple[str, str]] = (),
    prx: Sequence[str] | None = None,
    measure: Sequence[str] | None = None,
    cc_prx: Sequence[str] | None = None,
    extra_impls: dict[str, dict[str, list[tuple[str, ...]]]] | None = None,
) -> DynamicQuantumArchitecture:
    """A DQA with one implementation per gate; prx/measure/cc_prx default to every qubit."""

    def gate(impl: str, loci: Iterable[tuple[str, ...]]) -> GateInfo:
        impls: dict[str, tuple[tuple[str, ...], ...]] = {impl: tuple(tuple(lc) for lc in loci)}
        return GateInfo(implementations=impls, default_implementation=impl)

    gates: dict[str, GateInfo] = {
        "prx": gate("drag_gaussian", ((q,) for q in (qubits if prx is None else prx))),
        "measure": gate("constant", ((q,) for q in (qubits if measure is None else measure))),
        "cc_prx": gate("prx_composite", ((q,) for q in (qubits if cc_prx is None else cc_prx))),
    }
    cz = list(cz)
    if cz:
        gates["cz"] = gate("tgss", cz)
    move = list(move)
    if move:
        gates["move"] = gate("tgss_crf", move)
    for name, impls in (extra_impls or {}).items():
        base = dict(gates[name].implementations)
        base.update({k: tuple(tuple(lc) for lc in v) for k, v in impls.items()})
        gates[name] = GateInfo(implementations=base, default_implementation=gates[name].default_implementation)
    return DynamicQuantumArchitecture(
        calibration_set_id=CALSET,
        qubits=tuple(qubits),
        computational_resonators=tuple(resonators),
        gates=gates,
    )


def pattern(i: int, width: int = PATTERN_WIDTH) -> QuantumCircuit:
    """X on the qubits of the bits of i, then measure all: an ideal simulator gives one outcome."""
    qc = QuantumCircuit(width, width, name=f"p{i}")
    for q in range(width):
        if (i >> q) & 1:
            qc.x(q)
    qc.measure(range(width), range(width))
    return qc


def pattern_outcome(i: int, width: int = PATTERN_WIDTH) -> str:
    """The one bitstring :func:`pattern` gives."""
    return format(i % (1 << width), f"0{width}b")
