"""``transpile_to_IQM``: Qiskit's ``transpile`` with IQM's switches for MOVE routing and single-qubit optimisation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from qiskit import QuantumCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.circuit import Qubit  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler import Layout, PassManagerConfig  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.preset_passmanagers import (  # type: ignore[import-untyped, unused-ignore]
    generate_preset_pass_manager,
)

from ..errors import CircuitTranspilationError
from .gates import MOVE
from .plugins import IQMSchedulingPlugin
from .routing import ExistingMoveHandlingOptions
from .target import IQMTarget, build_target

__all__ = ["generate_initial_layout", "target_with_resonators", "transpile_to_IQM"]

_RUN_KWARGS = ("callback", "output_name", "num_processes")
"""Keywords of Qiskit's ``transpile`` that belong to running the pass manager, not to building it."""
_DEFAULT_LEVEL = 2
"""Qiskit's default optimisation level."""
_MAX_LEVEL_WITH_MOVES = 1
"""Highest Qiskit optimisation level used for circuits that already contain MOVEs."""


def target_with_resonators(target: IQMTarget) -> IQMTarget:
    """Return the view of ``target``'s architecture with the resonators, MOVE and fictional ``cz`` loci."""
    if target.iqm_include_resonators:
        return target
    return build_target(target.iqm_dqa, target.component_names, include_resonators=True)


def generate_initial_layout(target: IQMTarget, circuit: QuantumCircuit) -> Layout:
    """Return a layout for a circuit with MOVEs: its resonator wires on the resonators, its other qubits in order.

    A circuit qubit is a resonator wire when it is the second qubit of a MOVE. The other qubits take the
    chip's qubits in index order.

    Raises:
        ValueError: more resonator wires or qubits than the chip has.
    """
    names = target.component_names
    resonator_idx = [i for i, name in enumerate(names) if name in set(target.iqm_dqa.computational_resonators)]
    qubit_idx = [i for i in range(len(names)) if i not in set(resonator_idx)]
    resonator_wires: dict[Qubit, None] = {}
    for inst in circuit.data:
        if inst.operation.name == MOVE:
            resonator_wires.setdefault(inst.qubits[1], None)
    if len(resonator_wires) > len(resonator_idx):
        raise CircuitTranspilationError(
            f"The circuit moves states into {len(resonator_wires)} resonators; the chip has {len(resonator_idx)}"
        )
    others = [q for q in circuit.qubits if q not in resonator_wires]
    if len(others) > len(qubit_idx):
        raise CircuitTranspilationError(
            f"The circuit has {len(others)} qubits besides resonators; the chip has {len(qubit_idx)}"
        )
    mapping: dict[Qubit, int] = dict(zip(resonator_wires, resonator_idx))
    mapping.update(zip(others, qubit_idx))
    return Layout(mapping)


def transpile_to_IQM(  # IQM's name, capitals included
    circuit: QuantumCircuit,
    backend: Any,
    *,
    initial_layout: Layout | dict[Any, Any] | list[Any] | None = None,
    perform_move_routing: bool = True,
    optimize_single_qubits: bool = True,
    ignore_barriers: bool = False,
    remove_final_rzs: bool = False,
    existing_moves_handling: ExistingMoveHandlingOptions | None = None,
    restrict_to_qubits: Sequence[int] | Sequence[str] | None = None,
    **qiskit_transpiler_kwargs: Any,
) -> QuantumCircuit:
    """Transpile a circuit for an IQM backend (crystal or star), as IQM's ``transpile_to_IQM`` does.

    Args:
        circuit: the circuit to transpile.
        backend: an ``IQMBackend`` (anything whose ``target`` is an :class:`IQMTarget`).
        initial_layout: as in Qiskit's ``transpile``; for circuits with MOVEs the default puts their
            resonator wires on the resonators (:func:`generate_initial_layout`). Circuits with MOVEs
            are transpiled at ``optimization_level`` 1 at most (a higher one warns), because Qiskit's
            two-qubit re-synthesis would take their MOVEs apart.
        perform_move_routing: route qubit–qubit ``cz`` gates through the resonators (star chips).
        optimize_single_qubits: merge single-qubit gates and make z rotations virtual.
        ignore_barriers: let that optimisation merge across barriers.
        remove_final_rzs: drop the z rotations left at the end (measurements are unchanged, the
            unitary is not).
        existing_moves_handling: what to do with MOVEs already in the circuit; required when it has any.
        restrict_to_qubits: use only these components (indices or names); run the result with
            ``backend.run(..., qubit_index_to_name=...)`` mapping the new indices to these names.
        qiskit_transpiler_kwargs: what Qiskit's ``transpile`` accepts (``optimization_level``,
            ``seed_transpiler``, ``callback`` …). A ``scheduling_method`` given here replaces the stage
            the flags above choose (with a warning, as IQM's does).

    Raises:
        ValueError: the circuit has MOVEs but ``existing_moves_handling`` is not set.
    """
    target = getattr(backend, "target", None)
    if not isinstance(target, IQMTarget):
        raise TypeError(f"transpile_to_IQM needs an IQM backend whose target is an IQMTarget, got {backend!r}")
    has_moves = circuit.count_ops().get(MOVE, 0) > 0
    if has_moves:
        target = target_with_resonators(target)
        if perform_move_routing and existing_moves_handling is None:
            raise CircuitTranspilationError("The circuit contains MOVE gates but existing_moves_handling is not set.")
    if restrict_to_qubits is not None:
        target = target.restrict_to_qubits(restrict_to_qubits)
    if has_moves and initial_layout is None:
        initial_layout = generate_initial_layout(target, circuit)
    if has_moves:
        # From level 2 on, Qiskit re-synthesises two-qubit blocks, which would take MOVEs apart (or put
        # gates on a resonator); IQM advises a lower level for such circuits, and we apply it.
        level = qiskit_transpiler_kwargs.get("optimization_level")
        if level is not None and level > _MAX_LEVEL_WITH_MOVES:
            warnings.warn(
                f"optimization_level={level} would re-synthesise the circuit's MOVE gates; "
                f"using {_MAX_LEVEL_WITH_MOVES} for this circuit",
                UserWarning,
                stacklevel=2,
            )
        qiskit_transpiler_kwargs["optimization_level"] = min(
            _MAX_LEVEL_WITH_MOVES, _DEFAULT_LEVEL if level is None else level
        )
    method = qiskit_transpiler_kwargs.pop("scheduling_method", None)
    stage: IQMSchedulingPlugin | None = None
    if method is not None:
        warnings.warn(
            f"Scheduling method is set to {method}, but it is normally used to pass other transpiler options, "
            "ignoring the `perform_move_routing`, `optimize_single_qubits`, `remove_final_rzs`, `ignore_barriers`, "
            "and `existing_moves_handling` arguments.",
            UserWarning,
            stacklevel=2,
        )
    elif perform_move_routing or optimize_single_qubits:
        # The stage IQM's plugin of the same flags would build, given directly: no plugin lookup by name,
        # so IQM's adapter installed alongside cannot shadow it.
        handling = (
            None
            if existing_moves_handling is None
            else ExistingMoveHandlingOptions(str(getattr(existing_moves_handling, "value", existing_moves_handling)))
        )
        stage = IQMSchedulingPlugin(
            perform_move_routing, optimize_single_qubits, remove_final_rzs, ignore_barriers, handling
        )
    run_kwargs = {k: qiskit_transpiler_kwargs.pop(k) for k in _RUN_KWARGS if k in qiskit_transpiler_kwargs}
    level = qiskit_transpiler_kwargs.pop("optimization_level", None)
    level = _DEFAULT_LEVEL if level is None else level
    manager = generate_preset_pass_manager(
        level, target=target, initial_layout=initial_layout, scheduling_method=method, **qiskit_transpiler_kwargs
    )
    if stage is not None:
        manager.scheduling = stage.pass_manager(PassManagerConfig(target=target), level)
    result: QuantumCircuit = manager.run(circuit, **run_kwargs)
    return result
