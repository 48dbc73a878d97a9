"""IQM's import path ``iqm.qiskit_iqm.iqm_circuit``."""

from iqm_async.transpiler import IQMCircuit

__all__ = ["IQMCircuit"]
