"""Qiskit's V2 primitives over the async core: ``await SamplerV2(client).run_async(pubs)``, ``EstimatorV2`` likewise.

Usage::

    sampler = SamplerV2(client)
    result = await sampler.run_async([(isa_circuit, parameter_values)], shots=1000)
    counts = result[0].data.meas.get_counts()

Every binding of every PUB goes through the batch machinery (jobs cut to the server's limits, the
client's request budget and poll scheduler, progress, a journal when asked); a parameterised circuit is
converted once and bound per point. Blocking code uses ``iqm_sync_shim.SamplerV2`` / ``EstimatorV2``,
whose ``run()`` returns a job handle served by the facade's one event loop.
"""

from __future__ import annotations

from ._run import PrimitiveRun
from .estimator import EstimatorV2
from .sampler import SamplerV2

__all__ = ["EstimatorV2", "PrimitiveRun", "SamplerV2"]
