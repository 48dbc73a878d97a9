"""``backend.client``: a small synchronous client with IQM client method names, over the async core.

Code written for IQM's adapter reaches through ``backend.client`` for IQM client methods; they work
here too, each one blocking call into the provider's async client on the facade's portal loop::

    client = backend.client
    dqa = client.get_dynamic_quantum_architecture()
    definition = backend.create_circuit_job_definition(circuit, shots=100)
    tracker = client.submit_circuit_job(definition)
    tracker.wait_for_completion(timeout_secs=60)
    print(tracker.status, tracker.result_counts())

Return values are this package's wire models (:mod:`iqm_async.models`), which carry the same field
names as IQM's; ids are strings where IQM uses ``UUID`` objects, and either is accepted as input.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from iqm_async import AsyncIQMClient
from iqm_async.models import (
    Circuit,
    CircuitJobDefinition,
    DynamicQuantumArchitecture,
    JobData,
    JobParameters,
    QuantumComputer,
    StaticQuantumArchitecture,
)
from iqm_async.options import job_options_from
from iqm_async.validation import check_uuid

from ._runner import PortalRunner

if TYPE_CHECKING:
    from .provider import IQMProvider

__all__ = ["CircuitJobTracker", "IQMClient"]

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 900.0
"""IQM's default wait of ``wait_for_completion`` (15 minutes)."""


def _job_id(job_id: str | uuid.UUID) -> str:
    return check_uuid(job_id, "job id")


class IQMClient:
    """A synchronous client with IQM's method names over the provider's async client.

    Args:
        provider: the provider whose client (and portal loop) every call uses.
    """

    def __init__(self, provider: IQMProvider):
        self._provider = provider

    def __repr__(self) -> str:
        return f"<iqm_sync_shim IQMClient {self._provider.url!r}>"

    def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        runner, client = self._portal()
        return runner.run(fn, client, *args)

    def _portal(self) -> tuple[PortalRunner, AsyncIQMClient]:
        return self._provider._core()

    @property
    def async_client(self) -> AsyncIQMClient:
        """The async core client underneath (it belongs to the portal loop)."""
        return self._portal()[1]

    # ------------------------------------------------------------------ quantum computers

    @property
    def quantum_computer_name(self) -> str:
        """Name of the quantum computer (its alias), as the backend is named."""
        return self._run(AsyncIQMClient.backend_name)

    def get_quantum_computers(self) -> list[QuantumComputer]:
        """Return every quantum computer the server lists (E1)."""
        return self._run(AsyncIQMClient.quantum_computers)

    def get_dynamic_quantum_architecture(
        self, calibration_set_id: str | uuid.UUID | None = None
    ) -> DynamicQuantumArchitecture:
        """Return the dynamic quantum architecture of a calibration set (None: the server's current default)."""
        calset = None if calibration_set_id is None else check_uuid(calibration_set_id, "calibration set id")
        return self._run(AsyncIQMClient.dynamic_architecture, calset)

    def get_static_quantum_architecture(self) -> StaticQuantumArchitecture:
        """Return the chip layout (E3)."""
        return self._run(AsyncIQMClient.static_architecture)

    def get_chip_label(self) -> str:
        """Return the chip's label (``dut_label`` of the static quantum architecture)."""
        return self.get_static_quantum_architecture().dut_label or ""

    def get_health(self) -> dict[str, Any]:
        """Return the quantum computer's health report."""
        return self._run(AsyncIQMClient.health)

    def get_about(self) -> dict[str, Any]:
        """Return the server's version information."""
        return self._run(AsyncIQMClient.about)

    # ------------------------------------------------------------------ jobs

    def create_circuit_job_definition(
        self,
        circuits: Sequence[Circuit],
        *,
        calibration_set_id: str | uuid.UUID | None = None,
        qubit_mapping: dict[str, str] | None = None,
        shots: int = 1,
        options: Any = None,
    ) -> CircuitJobDefinition:
        """Build a job definition from wire circuits (e.g. ``backend.serialize_circuit(qc)``) and options."""
        params = JobParameters(
            shots=shots,
            calibration_set_id=None
            if calibration_set_id is None
            else check_uuid(calibration_set_id, "calibration set id"),
            qubit_mapping=qubit_mapping,
            **job_options_from(options),
        )
        return CircuitJobDefinition(circuits=tuple(circuits), parameters=params)

    def submit_circuit_job(self, definition: CircuitJobDefinition, *, use_timeslot: bool = False) -> CircuitJobTracker:
        """Submit a job definition (from ``backend.create_circuit_job_definition``) and return its tracker."""
        data = self._run(_submit_definition, definition, use_timeslot)
        return CircuitJobTracker(self, data, payload=definition)

    def submit_circuits(
        self,
        circuits: Sequence[Circuit],
        *,
        qubit_mapping: dict[str, str] | None = None,
        calibration_set_id: str | uuid.UUID | None = None,
        shots: int = 1,
        options: Any = None,
        use_timeslot: bool = False,
    ) -> CircuitJobTracker:
        """Submit wire circuits as one job and return its tracker (IQM client's ``submit_circuits``)."""
        definition = self.create_circuit_job_definition(
            circuits, calibration_set_id=calibration_set_id, qubit_mapping=qubit_mapping, shots=shots, options=options
        )
        return self.submit_circuit_job(definition, use_timeslot=use_timeslot)

    def get_job(self, job_id: str | uuid.UUID) -> CircuitJobTracker:
        """Return a tracker for an existing job; its messages and errors are shown as warnings, as IQM's client does."""
        data = self._run(AsyncIQMClient.job_data, _job_id(job_id))
        for message in data.messages:
            warnings.warn(f"{message.get('source', '')}: {message.get('message', '')}", UserWarning, stacklevel=2)
        for error in data.errors:
            warnings.warn(str(error.message), UserWarning, stacklevel=2)
        return CircuitJobTracker(self, data)

    def get_job_measurements(self, job_id: str | uuid.UUID) -> list[dict[str, list[list[int]]]]:
        """Return the per-shot measurements of a completed job: per circuit, key → one row per shot."""
        raw = self._run(AsyncIQMClient.measurements, _job_id(job_id))
        return [{key: bits.tolist() for key, bits in circuit.items()} for circuit in raw]

    def get_job_measurement_counts(self, job_id: str | uuid.UUID) -> list[dict[str, Any]]:
        """Return the measurement histograms of a completed job, one per circuit."""
        return self._run(AsyncIQMClient.measurement_counts, _job_id(job_id))

    def get_job_payload(self, job_id: str | uuid.UUID) -> CircuitJobDefinition:
        """Return the job definition the job was submitted with."""
        return self._run(AsyncIQMClient.job_payload, _job_id(job_id))

    def cancel_job(self, job_id: str | uuid.UUID) -> None:
        """Ask the server to cancel a job."""
        self._run(AsyncIQMClient.cancel_job, _job_id(job_id))

    def delete_job(self, job_id: str | uuid.UUID) -> None:
        """Cancel a job and delete it for good (its results cannot be fetched afterwards)."""
        self._run(AsyncIQMClient.delete_job, _job_id(job_id))


class CircuitJobTracker:
    """A submitted job, as IQM client's ``CircuitJobTracker``: status, waiting, results, cancel."""

    def __init__(self, client: IQMClient, job_data: JobData, *, payload: CircuitJobDefinition | None = None):
        self._client = client
        self.job_data = job_data
        """The last JobData seen."""
        self._payload = payload

    def __repr__(self) -> str:
        return f"<CircuitJobTracker {self.job_data.id} status={self.status!r}>"

    @property
    def job_id(self) -> uuid.UUID:
        """The job's id."""
        return uuid.UUID(self.job_data.id)

    @property
    def status(self) -> str:
        """The last status seen (``waiting``, ``processing``, ``completed``, ``failed`` or ``cancelled``)."""
        return self.job_data.status

    @property
    def errors(self) -> str:
        """The job's errors, one per line."""
        return "\n".join(f"  {e.message}" for e in self.job_data.errors)

    def update(self) -> str:
        """Fetch the job's status (no request once it is final) and return it."""
        if not self.job_data.is_final:
            self.job_data = self._client._run(AsyncIQMClient.job_data, self.job_data.id)
        return self.status

    def wait_for_completion(
        self, *, timeout_secs: float = DEFAULT_TIMEOUT_SECONDS, polling_interval: float | None = None
    ) -> str:
        """Wait until the job is final or ``timeout_secs`` passed (0: no limit); return the last status seen.

        The core's adaptive poller decides when to ask; ``polling_interval`` is accepted for IQM's signature.
        """
        del polling_interval
        if not self.job_data.is_final:
            limit = math.inf if not timeout_secs else float(timeout_secs)
            self.job_data = self._client._run(_wait, self.job_data.id, limit)
        return self.status

    def result(self) -> list[dict[str, list[list[int]]]] | None:
        """Return the per-shot measurements, or None when the job has not completed."""
        if self.update() != "completed":
            return None
        return self._client.get_job_measurements(self.job_data.id)

    def result_counts(self) -> list[dict[str, Any]] | None:
        """Return the measurement histograms, or None when the job has not completed."""
        if self.update() != "completed":
            return None
        return self._client.get_job_measurement_counts(self.job_data.id)

    def payload(self) -> CircuitJobDefinition:
        """Return the job definition (fetched once from the server when this tracker did not submit it)."""
        if self._payload is None:
            self._payload = self._client.get_job_payload(self.job_data.id)
        return self._payload

    def cancel(self) -> None:
        """Ask the server to cancel the job."""
        self._client.cancel_job(self.job_data.id)


# ---------------------------------------------------------------------- coroutines run on the portal loop


async def _submit_definition(client: AsyncIQMClient, definition: CircuitJobDefinition, use_timeslot: bool) -> JobData:
    return await client.submit_definition(definition, use_timeslot=use_timeslot)


async def _wait(client: AsyncIQMClient, job_id: str, limit: float) -> JobData:
    """Wait for the job with the core's poller; on timeout return the last JobData instead of raising."""
    from iqm_async.errors import JobTimeoutError

    job = client.job(job_id)
    try:
        return await job.wait_async(limit)
    except JobTimeoutError:
        data = job.last_data
        return data if data is not None else await client.job_data(job_id)
