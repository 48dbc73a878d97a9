"""IQM's import path ``iqm.qiskit_iqm.iqm_move_layout``."""

from iqm_async.transpiler import generate_initial_layout

__all__ = ["generate_initial_layout"]
