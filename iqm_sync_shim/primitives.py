"""Blocking ``SamplerV2`` / ``EstimatorV2`` for a backend: the core's primitives run on the facade's one portal loop.

Usage::

    sampler = SamplerV2(backend)
    job = sampler.run([(isa_circuit, values)], shots=1000)   # returns at once
    print(job.job_id())                                        # the server jobs, as they are submitted
    counts = job.result()[0].data.meas.get_counts()

``run()`` starts the core's ``run_async`` as one task on the portal loop (:mod:`iqm_sync_shim._runner`)
with the backend's client, its qubit names and calibration set, and returns an :class:`IQMPrimitiveJob`:
``result()`` blocks (Ctrl-C stops the local wait, the server jobs go on), ``status()`` and ``done()``
read the task's state, and ``cancel()`` cancels the server jobs and the task.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from qiskit.primitives import BasePrimitiveJob  # type: ignore[import-untyped, unused-ignore]
from qiskit.providers import JobStatus  # type: ignore[import-untyped, unused-ignore]

from iqm_async._config import DEFAULT_BATCH_POLICY
from iqm_async.errors import OperationTimeoutError
from iqm_async.primitives import EstimatorV2 as AsyncEstimatorV2
from iqm_async.primitives import PrimitiveRun
from iqm_async.primitives import SamplerV2 as AsyncSamplerV2

from ._runner import PortalRunner, await_future, get_runner

if TYPE_CHECKING:
    import os
    from concurrent.futures import Executor

    from qiskit.primitives.containers import EstimatorPubLike, PrimitiveResult, SamplerPubLike

    from .backend import IQMBackend

__all__ = ["EstimatorV2", "IQMPrimitiveJob", "SamplerV2"]


class IQMPrimitiveJob(BasePrimitiveJob):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A primitive run on the portal loop, seen from blocking code (Qiskit's ``PrimitiveJob`` interface)."""

    def __init__(self, runner: PortalRunner, future: concurrent.futures.Future[Any], run: PrimitiveRun):
        super().__init__(job_id=str(uuid.uuid4()))
        self._runner = runner
        self._future = future
        self._run = run

    def job_id(self) -> str:
        """Return the ids of the server jobs submitted so far, comma-separated (see :meth:`job_ids`)."""
        return ",".join(self._run.job_ids)

    def job_ids(self) -> list[str]:
        """Return the ids of the server jobs submitted so far."""
        return self._run.job_ids

    def result(self, timeout: float | None = None) -> PrimitiveResult:
        """Block until the run finishes and return its result (or raise its error).

        Raises:
            OperationTimeoutError: not finished within ``timeout`` seconds (the run goes on).
        """
        if timeout is not None:
            done, _ = concurrent.futures.wait([self._future], timeout=timeout)
            if not done:
                raise OperationTimeoutError(f"The primitive run did not finish within {timeout} seconds.")
        return self._runner.wait(self._future)

    def status(self) -> JobStatus:
        """Return QUEUED before any job is submitted, RUNNING, then DONE, ERROR or CANCELLED."""
        if self._future.cancelled() or (self._run.cancelled and self._future.done()):
            return JobStatus.CANCELLED
        if self._future.done():
            return JobStatus.ERROR if self._future.exception() is not None else JobStatus.DONE
        return JobStatus.RUNNING if self._run.job_ids else JobStatus.QUEUED

    def done(self) -> bool:
        """Tell whether the run finished (successfully or not)."""
        return self._future.done()

    def running(self) -> bool:
        """Tell whether the run is under way."""
        return not self._future.done()

    def cancelled(self) -> bool:
        """Tell whether the run was cancelled."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Tell whether the run finished, failed or was cancelled."""
        return self._future.done()

    def cancel(self) -> None:
        """Cancel the server jobs of the run that are not finished, then stop the local work."""
        if not self._future.done():
            self._runner.run(self._run.cancel)
        self._future.cancel()


class _Portal:
    """Runs a core primitive's ``run_async`` on the portal loop for the facade's classes."""

    def _start(self, call: Callable[[PrimitiveRun], Awaitable[PrimitiveResult]]) -> IQMPrimitiveJob:
        run = PrimitiveRun()
        runner = get_runner()
        future = runner.submit(call, run)
        return IQMPrimitiveJob(runner, future, run)


def _settings(
    backend: IQMBackend, transpile: Any, qubit_names: Sequence[str] | None, calset: str | None
) -> dict[str, Any]:
    """Return the backend's defaults for what the caller left out."""
    return {
        "transpile": backend if transpile is True else transpile,
        "qubit_names": backend.physical_qubits if qubit_names is None else qubit_names,
        "calibration_set_id": backend.calibration_set_id if calset is None else calset,
    }


class SamplerV2(AsyncSamplerV2, _Portal):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """Qiskit's ``BaseSamplerV2`` for an ``IQMBackend``; ``run()`` returns an :class:`IQMPrimitiveJob`.

    Takes the arguments of :class:`iqm_async.SamplerV2` with the backend instead of a client; its qubit
    names and calibration set are the defaults, and ``transpile=True`` transpiles for the backend.
    """

    def __init__(
        self,
        backend: IQMBackend,
        *,
        default_shots: int | None = None,
        transpile: Any = None,
        optimization_level: int | None = None,
        seed_transpiler: int | None = None,
        executor: Executor | str | None = "auto",
        circuits_per_job: int | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        progress: bool | None = False,
        journal: str | os.PathLike[str] | None = None,
        tags: str | Sequence[str] | None = None,
        calibration_set_id: str | None = None,
        qubit_names: Sequence[str] | None = None,
        job_options: dict[str, Any] | None = None,
    ):
        self.backend = backend
        super().__init__(
            backend.async_client,
            default_shots=backend.options.shots if default_shots is None else default_shots,
            optimization_level=optimization_level,
            seed_transpiler=seed_transpiler,
            executor=executor,
            circuits_per_job=circuits_per_job,
            max_in_flight=max_in_flight,
            timeout_seconds=timeout_seconds,
            progress=progress,
            journal=journal,
            tags=tags,
            job_options=job_options,
            **_settings(backend, transpile, qubit_names, calibration_set_id),
        )

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> IQMPrimitiveJob:
        """Start sampling the PUBs on the portal loop; return the job handle at once."""
        pubs = list(pubs)
        core_run = super().run_async
        return self._start(lambda run: core_run(pubs, shots=shots, run=run))

    async def run_async(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None, run: PrimitiveRun | None = None
    ) -> PrimitiveResult:
        """Await the run from your own event loop; the work happens on the portal loop, where the client lives."""
        pubs = list(pubs)
        core_run = super().run_async
        return await await_future(get_runner().submit(lambda: core_run(pubs, shots=shots, run=run)))


class EstimatorV2(AsyncEstimatorV2, _Portal):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """Qiskit's ``BaseEstimatorV2`` for an ``IQMBackend``; ``run()`` returns an :class:`IQMPrimitiveJob`.

    Takes the arguments of :class:`iqm_async.EstimatorV2` with the backend instead of a client.
    """

    def __init__(
        self,
        backend: IQMBackend,
        *,
        default_precision: float = 0.015625,
        transpile: Any = None,
        optimization_level: int | None = None,
        seed_transpiler: int | None = None,
        executor: Executor | str | None = "auto",
        circuits_per_job: int | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        progress: bool | None = False,
        journal: str | os.PathLike[str] | None = None,
        tags: str | Sequence[str] | None = None,
        calibration_set_id: str | None = None,
        qubit_names: Sequence[str] | None = None,
        job_options: dict[str, Any] | None = None,
    ):
        self.backend = backend
        super().__init__(
            backend.async_client,
            default_precision=default_precision,
            optimization_level=optimization_level,
            seed_transpiler=seed_transpiler,
            executor=executor,
            circuits_per_job=circuits_per_job,
            max_in_flight=max_in_flight,
            timeout_seconds=timeout_seconds,
            progress=progress,
            journal=journal,
            tags=tags,
            job_options=job_options,
            **_settings(backend, transpile, qubit_names, calibration_set_id),
        )

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> IQMPrimitiveJob:
        """Start estimating the PUBs on the portal loop; return the job handle at once."""
        pubs = list(pubs)
        core_run = super().run_async
        return self._start(lambda run: core_run(pubs, precision=precision, run=run))

    async def run_async(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None, run: PrimitiveRun | None = None
    ) -> PrimitiveResult:
        """Await the run from your own event loop; the work happens on the portal loop, where the client lives."""
        pubs = list(pubs)
        core_run = super().run_async
        return await await_future(get_runner().submit(lambda: core_run(pubs, precision=precision, run=run)))
