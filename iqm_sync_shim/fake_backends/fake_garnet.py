"""IQM's import path ``iqm.qiskit_iqm.fake_backends.fake_garnet``."""

from .named import IQMFakeGarnet

__all__ = ["IQMFakeGarnet"]
