"""IQM's import path ``iqm.qiskit_iqm.fake_backends.iqm_fake_backend``."""

from .error_profile import IQMErrorProfile
from .fake_backend import IQMFakeBackend

__all__ = ["IQMErrorProfile", "IQMFakeBackend"]
