"""IQM's import path ``iqm.qiskit_iqm.iqm_transpilation``."""

from iqm_async.transpiler import IQMOptimizeSingleQubitGates, optimize_single_qubit_gates

__all__ = ["IQMOptimizeSingleQubitGates", "optimize_single_qubit_gates"]
