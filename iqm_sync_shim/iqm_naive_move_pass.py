"""IQM's import path ``iqm.qiskit_iqm.iqm_naive_move_pass``."""

from .transpile import IQMNaiveResonatorMoving, transpile_to_IQM

__all__ = ["IQMNaiveResonatorMoving", "transpile_to_IQM"]
