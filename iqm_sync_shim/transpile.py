"""IQM's transpilation toolkit under the facade's import path (``from iqm_sync_shim import transpile_to_IQM``).

Everything here is defined once in :mod:`iqm_async.transpiler`; this module only re-exports it under
the names of IQM's adapter (``iqm.qiskit_iqm``).
"""

from __future__ import annotations

from iqm_async.transpiler import (
    ExistingMoveHandlingOptions,
    IQMCircuit,
    IQMOptimizeSingleQubitGates,
    IQMTarget,
    MoveGate,
    ResonatorMoveRouting,
    generate_initial_layout,
    optimize_single_qubit_gates,
    transpile_to_IQM,
)
from iqm_async.transpiler.plugins import IQMDefaultSchedulingPlugin, IQMSchedulingPlugin

IQMNaiveResonatorMoving = ResonatorMoveRouting
"""IQM's name for its MOVE routing pass; ours schedules MOVEs with lookahead instead of in circuit order."""

__all__ = [
    "ExistingMoveHandlingOptions",
    "IQMCircuit",
    "IQMDefaultSchedulingPlugin",
    "IQMNaiveResonatorMoving",
    "IQMOptimizeSingleQubitGates",
    "IQMSchedulingPlugin",
    "IQMTarget",
    "MoveGate",
    "generate_initial_layout",
    "optimize_single_qubit_gates",
    "transpile_to_IQM",
]
