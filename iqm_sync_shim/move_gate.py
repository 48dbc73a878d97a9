"""IQM's import path ``iqm.qiskit_iqm.move_gate``."""

from iqm_async.transpiler import MoveGate

__all__ = ["MoveGate"]
