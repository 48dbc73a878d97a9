"""IQM's import path ``iqm.qiskit_iqm.iqm_backend``; ``IQMBackendBase`` is our one backend class."""

from .backend import IQMBackend
from .backend import IQMBackend as IQMBackendBase

__all__ = ["IQMBackend", "IQMBackendBase"]
