"""Errors the facade raises: the core's typed job errors, made Qiskit job errors as well.

Each class derives from *both* trees, so every existing ``except`` clause keeps working::

    JobFailedError   ← iqm_async.JobFailedError  and qiskit.providers.JobError
    JobTimeoutError  ← iqm_async.JobTimeoutError and qiskit.providers.JobTimeoutError
                       (and so iqm_async.OperationTimeoutError, IQM's name for every timeout)

They carry the same attributes as the core's errors (``job_id``, ``errors``, ``timeout_seconds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qiskit.providers import JobError as QiskitJobError
from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError

import iqm_async

__all__ = ["JobFailedError", "JobTimeoutError", "MetricsNotAvailableError", "translate_job_error"]


class JobFailedError(iqm_async.JobFailedError, QiskitJobError):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """The job ended ``failed`` on the server; ``errors`` holds the server's error bodies."""

    def __init__(self, message: str, *, job_id: str, errors: Sequence[Mapping[str, Any]] = ()):
        super().__init__(message, job_id=job_id, errors=errors)

    def __str__(self) -> str:
        # QiskitError.__str__ shows repr(message); show the message itself, as the core does.
        return str(self.args[0]) if self.args else ""


class JobTimeoutError(iqm_async.JobTimeoutError, QiskitJobTimeoutError):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """Waiting for the job gave up; the job was left running on the server unless a cancel was asked for."""

    def __init__(self, message: str, *, job_id: str, timeout_seconds: float | None):
        super().__init__(message, job_id=job_id, timeout_seconds=timeout_seconds)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MetricsNotAvailableError(iqm_async.IQMError, NotImplementedError):
    """``get_backend(use_metrics=True)`` against a server that serves no calibration quality metrics."""


def translate_job_error(exc: BaseException) -> BaseException:
    """Return the facade's error for a core job error (or ``exc`` itself when there is none)."""
    if isinstance(exc, (JobFailedError, JobTimeoutError)):
        return exc
    if isinstance(exc, iqm_async.JobFailedError):
        return JobFailedError(str(exc), job_id=exc.job_id, errors=exc.errors)
    if isinstance(exc, iqm_async.JobTimeoutError):
        return JobTimeoutError(str(exc), job_id=exc.job_id, timeout_seconds=exc.timeout_seconds)
    return exc
