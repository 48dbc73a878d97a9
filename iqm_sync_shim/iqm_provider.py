"""IQM's import path ``iqm.qiskit_iqm.iqm_provider``: the provider and the backend."""

from .backend import IQMBackend
from .provider import IQMProvider

__all__ = ["IQMBackend", "IQMProvider"]
