"""Sweeps at scale: transpile once and bind many, and the CPU-heavy stage of a batch on any executor.

``client.run_batch(circuits, parameter_values=..., transpile=..., executor=...)`` uses this package:
:mod:`~iqm_async.sweeps.inputs` numbers the items, :mod:`~iqm_async.sweeps.template` converts a
parameterised circuit once and binds it per point, :mod:`~iqm_async.sweeps.stage` is the picklable
per-chunk work, and :mod:`~iqm_async.sweeps.pipeline` runs it inline or on an executor.
"""

from __future__ import annotations

from .inputs import SweepInput, resolve_transpile
from .pipeline import POOL_MIN_CONVERSIONS, POOL_MIN_TRANSPILES, ExecutorChoice, Pipeline, await_future
from .stage import Part, StageSettings, TranspileSpec
from .template import WireTemplate

__all__ = [
    "POOL_MIN_CONVERSIONS",
    "POOL_MIN_TRANSPILES",
    "ExecutorChoice",
    "Part",
    "Pipeline",
    "StageSettings",
    "SweepInput",
    "TranspileSpec",
    "WireTemplate",
    "await_future",
    "resolve_transpile",
]
