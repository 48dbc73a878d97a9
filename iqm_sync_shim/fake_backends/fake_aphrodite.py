"""IQM's import path ``iqm.qiskit_iqm.fake_backends.fake_aphrodite``."""

from .named import IQMFakeAphrodite

__all__ = ["IQMFakeAphrodite"]
