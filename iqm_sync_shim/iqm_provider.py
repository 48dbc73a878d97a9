"""IQM's import path ``iqm.qiskit_iqm.iqm_provider``: the provider, the backend and the facade backend."""

from .backend import IQMBackend
from .fake_backends.facade import IQMFacadeBackend
from .provider import IQMProvider

__all__ = ["IQMBackend", "IQMFacadeBackend", "IQMProvider"]
