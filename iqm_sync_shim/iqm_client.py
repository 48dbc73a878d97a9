"""IQM client names (``iqm.iqm_client``) that Qiskit code imports: option objects, errors, the sync client."""

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
    STANDARD_DD_STRATEGY,
    CircuitCompilationOptions,
    DDMode,
    DDStrategy,
    HeraldingMode,
    MoveGateFrameTrackingMode,
    MoveGateValidationMode,
)
from iqm_async.transpiler import ExistingMoveHandlingOptions

from .sync_client import CircuitJobTracker, IQMClient

GatewayTimeoutError = OperationTimeoutError
"""IQM's alias of ``OperationTimeoutError`` (every timeout)."""

__all__ = [
    "STANDARD_DD_STRATEGY",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "CircuitCompilationOptions",
    "CircuitExecutionError",
    "CircuitJobTracker",
    "CircuitTranspilationError",
    "CircuitValidationError",
    "ConflictError",
    "DDMode",
    "DDStrategy",
    "DataSizeError",
    "ExistingMoveHandlingOptions",
    "ForbiddenError",
    "GatewayTimeoutError",
    "HeraldingMode",
    "IQMClient",
    "IQMError",
    "InternalServerError",
    "InternalSystemError",
    "InvalidOperationError",
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
]
