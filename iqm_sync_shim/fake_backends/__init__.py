"""Fake backends: IQM chips simulated locally with Aer and calibrated noise, no server (IQM's names).

::

    from iqm_sync_shim.fake_backends import IQMFakeGarnet
    backend = IQMFakeGarnet()
    result = backend.run(transpile(circuit, backend), shots=1000).result()

Needs qiskit-aer (the ``server`` extra).
"""

from __future__ import annotations

from .error_profile import IQMErrorProfile
from .fake_backend import IQMFakeBackend, IQMFakeJob
from .named import (
    IQMFakeAdonis,
    IQMFakeAphrodite,
    IQMFakeApollo,
    IQMFakeDeneb,
    IQMFakeEmerald,
    IQMFakeGarnet,
    IQMFakeSirius,
    fake_from_shape,
)

__all__ = [
    "IQMErrorProfile",
    "IQMFakeAdonis",
    "IQMFakeAphrodite",
    "IQMFakeApollo",
    "IQMFakeBackend",
    "IQMFakeDeneb",
    "IQMFakeEmerald",
    "IQMFakeGarnet",
    "IQMFakeJob",
    "IQMFakeSirius",
    "fake_from_shape",
]
