"""iqm-async: an async-first client for IQM quantum computers.

Usage::

    from iqm_async import AsyncIQMClient

    async with AsyncIQMClient("https://resonance.iqm.tech", quantum_computer="garnet") as client:
        job = await client.submit(circuit, shots=1000)
        print((await job.result_async()).get_counts())
"""

from __future__ import annotations

from ._config import (
    DEFAULT_POLL_POLICY,
    DEFAULT_RATE_LIMIT_POLICY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RESULT_TIMEOUT,
    DEFAULT_RETRY_POLICY,
    BatchPolicy,
    PollPolicy,
    RateLimitPolicy,
    RetryPolicy,
)
from ._logging import configure_from_env as _configure_logging
from ._version import __version__
from .batch import Batch, Outcome
from .calibration import CalibrationMetrics
from .client import AsyncIQMClient, PreparedJob
from .errors import (
    APIStatusError,
    APIValidationError,
    AuthenticationError,
    BadGatewayError,
    BatchError,
    CircuitExecutionError,
    CircuitTranspilationError,
    CircuitValidationError,
    ClientConfigurationError,
    ConflictError,
    ConnectError,
    DataSizeError,
    ForbiddenError,
    GatewayTimeoutError,
    InternalSystemError,
    InvalidOperationError,
    IQMError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    JournalError,
    MalformedResponseError,
    NotFoundError,
    NotSubmittedError,
    OperationTimeoutError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SubmissionUnknownError,
    SystemUnavailableError,
    TransportError,
    UsageError,
    ValidationError,
)
from .job import AsyncJob
from .models import JobData
from .primitives import EstimatorV2, SamplerV2
from .result_files import load_results, save_results
from .results import CircuitResult

_configure_logging()  # IQM_ASYNC_LOG_LEVEL, read once here (see iqm_async._logging)

__all__ = [
    "DEFAULT_POLL_POLICY",
    "DEFAULT_RATE_LIMIT_POLICY",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RESULT_TIMEOUT",
    "DEFAULT_RETRY_POLICY",
    "APIStatusError",
    "APIValidationError",
    "AsyncIQMClient",
    "AsyncJob",
    "AuthenticationError",
    "BadGatewayError",
    "Batch",
    "BatchError",
    "BatchPolicy",
    "CalibrationMetrics",
    "CircuitResult",
    "CircuitExecutionError",
    "CircuitTranspilationError",
    "CircuitValidationError",
    "ClientConfigurationError",
    "ConflictError",
    "ConnectError",
    "DataSizeError",
    "EstimatorV2",
    "ForbiddenError",
    "GatewayTimeoutError",
    "IQMError",
    "InternalSystemError",
    "InvalidOperationError",
    "JobCancelledError",
    "JobData",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "NotSubmittedError",
    "OperationTimeoutError",
    "Outcome",
    "PollPolicy",
    "PreparedJob",
    "RateLimitError",
    "RateLimitPolicy",
    "RequestTimeoutError",
    "RetryPolicy",
    "SamplerV2",
    "ServerError",
    "SubmissionUnknownError",
    "SystemUnavailableError",
    "TransportError",
    "UsageError",
    "ValidationError",
    "__version__",
    "load_results",
    "save_results",
]
