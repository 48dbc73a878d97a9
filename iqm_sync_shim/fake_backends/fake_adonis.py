"""IQM's import path ``iqm.qiskit_iqm.fake_backends.fake_adonis``."""

from .named import IQMFakeAdonis

__all__ = ["IQMFakeAdonis"]
