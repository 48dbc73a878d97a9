"""IQM's import path ``iqm.qiskit_iqm.fake_backends.fake_apollo``."""

from .named import IQMFakeApollo

__all__ = ["IQMFakeApollo"]
