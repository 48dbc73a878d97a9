"""Transpiling for IQM chips: targets (with the qubit-only view of star chips), MOVE routing, single-qubit optimisation.

Usage::

    from iqm_async.transpiler import transpile_to_IQM

    isa = transpile_to_IQM(circuit, backend)          # or qiskit.transpile(circuit, backend)

``transpile(circuit, backend)`` already routes MOVEs on star chips: the backend's scheduling stage is
:class:`~iqm_async.transpiler.plugins.IQMDefaultSchedulingPlugin`. The batch and primitive layers use
this package too, which is why it lives in the core rather than in the Qiskit facade.
"""

from __future__ import annotations

from .gates import IQMCircuit, MoveGate
from .passes import IQMOptimizeSingleQubitGates, optimize_single_qubit_gates
from .plugins import DEFAULT_PLUGIN, IQMDefaultSchedulingPlugin, IQMSchedulingPlugin
from .routing import ExistingMoveHandlingOptions, MoveRoutingError, ResonatorMoveRouting, route_moves
from .target import IQMTarget, StarTopology, build_target, restrict_architecture
from .transpile import generate_initial_layout, target_with_resonators, transpile_to_IQM

__all__ = [
    "DEFAULT_PLUGIN",
    "ExistingMoveHandlingOptions",
    "IQMCircuit",
    "IQMDefaultSchedulingPlugin",
    "IQMOptimizeSingleQubitGates",
    "IQMSchedulingPlugin",
    "IQMTarget",
    "MoveGate",
    "MoveRoutingError",
    "ResonatorMoveRouting",
    "StarTopology",
    "build_target",
    "generate_initial_layout",
    "optimize_single_qubit_gates",
    "restrict_architecture",
    "route_moves",
    "target_with_resonators",
    "transpile_to_IQM",
]
