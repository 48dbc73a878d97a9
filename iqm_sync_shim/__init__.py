"""iqm_sync_shim: a synchronous Qiskit facade over :mod:`iqm_async`, a drop-in for IQM's Qiskit adapter.

Switching from IQM's adapter is a change of import::

    # from iqm.qiskit_iqm import IQMProvider
    from iqm_sync_shim import IQMProvider
    from qiskit import transpile

    with IQMProvider("https://resonance.iqm.tech", quantum_computer="garnet") as provider:
        backend = provider.get_backend()
        job = backend.run(transpile(circuit, backend), shots=1000)
        print(job.result().get_counts())

Every blocking method makes one call into the async core through one process-wide background
event loop (see :mod:`iqm_sync_shim._runner`), so the facade works in scripts, in threads, inside
running event loops (Jupyter) and after ``fork``. Async code can ``await job.result_async()``.
"""

from __future__ import annotations

from iqm_async import __version__
from iqm_async.errors import (
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    CircuitExecutionError,
    CircuitTranspilationError,
    CircuitValidationError,
    ConflictError,
    DataSizeError,
    ForbiddenError,
    InternalServerError,
    InternalSystemError,
    InvalidOperationError,
    IQMError,
    NotFoundError,
    OperationTimeoutError,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    SystemUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    ValidationError,
)
from iqm_async.options import (
    CircuitCompilationOptions,
    DDMode,
    DDStrategy,
    HeraldingMode,
    MoveGateFrameTrackingMode,
    MoveGateValidationMode,
)

from ._errors import JobFailedError, JobTimeoutError, MetricsNotAvailableError
from ._runner import PortalThreadError, RunnerClosedError
from .backend import IQMBackend, MoveGate
from .fake_backends import IQMErrorProfile, IQMFakeAdonis, IQMFakeAphrodite, IQMFakeApollo, IQMFakeBackend, IQMFakeDeneb
from .job import IQMJob
from .primitives import EstimatorV2, IQMPrimitiveJob, SamplerV2
from .provider import IQMProvider
from .transpile import (
    ExistingMoveHandlingOptions,
    IQMCircuit,
    IQMDefaultSchedulingPlugin,
    IQMNaiveResonatorMoving,
    IQMOptimizeSingleQubitGates,
    IQMSchedulingPlugin,
    IQMTarget,
    generate_initial_layout,
    optimize_single_qubit_gates,
    transpile_to_IQM,
)

GatewayTimeoutError = OperationTimeoutError
"""IQM's ``GatewayTimeoutError`` is its alias of ``OperationTimeoutError`` (every timeout); so is ours here."""

__all__ = [
    "EstimatorV2",
    "IQMPrimitiveJob",
    "SamplerV2",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "CircuitCompilationOptions",
    "CircuitExecutionError",
    "CircuitTranspilationError",
    "CircuitValidationError",
    "ConflictError",
    "DDMode",
    "DDStrategy",
    "DataSizeError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "HeraldingMode",
    "IQMError",
    "IQMErrorProfile",
    "IQMFakeAdonis",
    "IQMFakeAphrodite",
    "IQMFakeApollo",
    "IQMFakeBackend",
    "IQMFakeDeneb",
    "InternalServerError",
    "InternalSystemError",
    "InvalidOperationError",
    "MetricsNotAvailableError",
    "MoveGateFrameTrackingMode",
    "MoveGateValidationMode",
    "NotFoundError",
    "OperationTimeoutError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServiceUnavailableError",
    "SystemUnavailableError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "ValidationError",
    "__version__",
    "ExistingMoveHandlingOptions",
    "IQMBackend",
    "IQMCircuit",
    "IQMDefaultSchedulingPlugin",
    "IQMSchedulingPlugin",
    "IQMTarget",
    "IQMJob",
    "IQMNaiveResonatorMoving",
    "IQMOptimizeSingleQubitGates",
    "IQMProvider",
    "JobFailedError",
    "JobTimeoutError",
    "MoveGate",
    "PortalThreadError",
    "RunnerClosedError",
    "generate_initial_layout",
    "optimize_single_qubit_gates",
    "transpile_to_IQM",
]
