"""IQM's import path ``iqm.qiskit_iqm.fake_backends.fake_deneb``."""

from .named import IQMFakeDeneb

__all__ = ["IQMFakeDeneb"]
