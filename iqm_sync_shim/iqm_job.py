"""IQM's import path ``iqm.qiskit_iqm.iqm_job``."""

from .job import IQMJob

__all__ = ["IQMJob"]
