"""``AsyncIQMClient``: one short method per IQM Server endpoint, plus circuit submission.

Usage::

    async with AsyncIQMClient("https://resonance.iqm.tech", quantum_computer="garnet") as client:
        job = await client.submit(circuit, shots=1000)
        result = await job.result_async()        # a qiskit Result
        print(result.get_counts())

The client is an async context manager with an explicit lifecycle (unopened → open → closed). It
owns one :class:`~iqm_async._transport.Transport` (and so one connection pool and one request
budget) that every job and batch created from it shares. It starts no threads.
"""

from __future__ import annotations

import difflib
import enum
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from . import telemetry
from ._auth import Secret, TokenProvider, resolve_quantum_computer, resolve_url
from ._config import (
    DEFAULT_POLL_POLICY,
    DEFAULT_RATE_LIMIT_POLICY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_SHOTS,
    PollPolicy,
    RateLimitPolicy,
    RetryPolicy,
)
from ._forecast import ThroughputHistory
from ._logging import fields
from ._transport import Transport, parse_json, parse_nothing, request_timeout_from_env
from .batch.api import resume_batch as _resume_batch
from .batch.api import run_batch as _run_batch
from .calibration import CalibrationMetrics, ObservationSet
from .errors import CircuitValidationError, ClientClosedError, ClientConfigurationError, MalformedResponseError
from .ledger import LedgerError, LedgerSpec, normalize_tags, open_ledger
from .models import (
    JOB_OPTION_NAMES,
    CircuitJobDefinition,
    DynamicQuantumArchitecture,
    JobData,
    JobParameters,
    QuantumComputer,
    StaticQuantumArchitecture,
)
from .results import BitArray, parse_measurements_json

if TYPE_CHECKING:
    from datetime import date, datetime, timedelta

    import httpx
    from qiskit import QuantumCircuit

    from .job import AsyncJob
    from .ledger import Ledger, LedgerEntry, UsageReport

__all__ = ["AsyncIQMClient"]

logger = logging.getLogger("iqm_async.job")

_JOB_OPTIONS = frozenset(JOB_OPTION_NAMES)


def _uuid_arg(value: str, what: str) -> str:
    """Return ``value`` as a canonical UUID, or refuse it (see :func:`iqm_async.validation.check_uuid`)."""
    from .validation import check_uuid

    return check_uuid(value, what)


class _State(enum.Enum):
    UNOPENED = 1
    OPEN = 2
    CLOSED = 3


class AsyncIQMClient:
    """Async client for one quantum computer on an IQM server.

    Args:
        url: root URL of the server (no path); falls back to ``IQM_SERVER_URL``.
        token: bearer token; or ``tokens_file``, or the env vars ``IQM_TOKEN`` / ``IQM_TOKENS_FILE``
            (exactly one source, or none).
        tokens_file: JSON file with an ``access_token`` JWT, re-read shortly before the token expires.
        quantum_computer: alias of the quantum computer; falls back to ``IQM_QUANTUM_COMPUTER``; may be
            omitted when the server has exactly one.
        timeout: seconds per HTTP request (default 120, or ``IQM_CLIENT_REQUESTS_TIMEOUT``).
        retry: HTTP retry policy. poll: job polling policy. rate_limit: request budget policy.
        http_transport: an httpx transport to send through (tests use respx or a MockTransport).
        sleep: awaitable sleep used for backoff and polling (tests inject a recording one).
        signature: appended to the User-Agent.
        verify: TLS verification; on by default.
        ledger: the local job ledger (:mod:`iqm_async.ledger`): a path, ``True`` for the default file,
            ``False`` for none; default: ``IQM_ASYNC_LEDGER`` if set, else none.

    Raises:
        ClientConfigurationError: on a bad URL or token configuration, before anything is sent.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        tokens_file: str | os.PathLike[str] | None = None,
        quantum_computer: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        poll: PollPolicy = DEFAULT_POLL_POLICY,
        rate_limit: RateLimitPolicy = DEFAULT_RATE_LIMIT_POLICY,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        signature: str | None = None,
        verify: bool = True,
        ledger: LedgerSpec = None,
    ):
        # Wrapped first and the plain name deleted: a traceback rendered with locals must not show it.
        secret = token if token is None or isinstance(token, Secret) else Secret(token)
        del token
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (math.isfinite(timeout) and timeout > 0)
        ):
            raise ClientConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = resolve_url(url)
        self._tokens = TokenProvider(secret, tokens_file)
        self._qc_name = resolve_quantum_computer(quantum_computer)
        self.poll_policy = poll
        self.sleep = sleep
        self.clock = clock
        self.throughput = ThroughputHistory()
        """Execution times of this client's completed jobs, which forecast when its next jobs complete."""
        self._transport = Transport(
            self.url,
            tokens=self._tokens,
            timeout=timeout if timeout is not None else request_timeout_from_env(),
            retry=retry,
            rate_limit=rate_limit,
            http_transport=http_transport,
            sleep=sleep,
            clock=clock,
            signature=signature,
            verify=verify,
        )
        self._state = _State.UNOPENED
        self._qc: QuantumComputer | None = None
        self._dqa_cache: dict[str, DynamicQuantumArchitecture] = {}
        self._warned_statuses: set[tuple[str, str]] = set()
        self.ledger: Ledger | None = open_ledger(ledger)
        """The job ledger every job of this client is recorded in, or None."""

    def __repr__(self) -> str:
        # Defaults: a traceback rendered with locals shows a client whose constructor failed half-way.
        state = getattr(self, "_state", None)
        return (
            f"AsyncIQMClient(url={getattr(self, 'url', None)!r}, quantum_computer={getattr(self, '_qc_name', None)!r}, "
            f"state={'unbuilt' if state is None else state.name.lower()})"
        )

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AsyncIQMClient:
        if self._state is _State.CLOSED:
            raise ClientClosedError("This AsyncIQMClient is closed; create a new one.")
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        if self._state is not _State.CLOSED:
            self._state = _State.CLOSED
            await self._transport.aclose()

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` ran."""
        return self._state is _State.CLOSED

    @property
    def transport(self) -> Transport:
        """The transport every request of this client goes through (for its budget and counters)."""
        if self._state is _State.CLOSED:
            raise ClientClosedError("This AsyncIQMClient is closed; create a new one.")
        return self._transport

    # ---------------------------------------------------------------- endpoints (docs/protocol.md#endpoints)

    async def quantum_computers(self) -> list[QuantumComputer]:
        """List the quantum computers on the server (E1)."""
        return await self.transport.request(
            "GET", "/quantum-computers", parse=lambda r: QuantumComputer.list_from_json(parse_json(r))
        )

    async def quantum_computer(self) -> QuantumComputer:
        """Return the selected quantum computer, choosing it on first use (docs/protocol.md#quantum-computers)."""
        if self._qc is None:
            computers = await self.quantum_computers()
            aliases = [qc.alias for qc in computers]
            if self._qc_name is not None:
                match = [qc for qc in computers if qc.alias == self._qc_name]
                if not match:
                    raise ClientConfigurationError(
                        f"Quantum computer {self._qc_name!r} is not on {self.url}; available: {aliases}."
                    )
                self._qc = match[0]
            elif len(computers) == 1:
                self._qc = computers[0]
            else:
                raise ClientConfigurationError(
                    f"{self.url} has {len(computers)} quantum computers {aliases}; choose one with "
                    "quantum_computer=... or IQM_QUANTUM_COMPUTER."
                )
            self._transport.quantum_computer = self._qc.alias  # named on the spans of its requests
        return self._qc

    async def backend_name(self) -> str:
        """Return the Qiskit backend name: the alias, or the display name when the alias is ``default``."""
        qc = await self.quantum_computer()
        return qc.display_name if qc.alias == "default" else qc.alias

    async def dynamic_architecture(self, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture:
        """Return the DQA of the default or a given calibration set (E2); a concrete id is cached."""
        if calibration_set_id is not None:
            calibration_set_id = _uuid_arg(calibration_set_id, "calibration set id")
        if calibration_set_id is not None and calibration_set_id in self._dqa_cache:
            return self._dqa_cache[calibration_set_id]
        qc = await self.quantum_computer()
        calset = calibration_set_id or "default"
        dqa = await self.transport.request(
            "GET",
            f"/calibration-sets/{qc.alias}/{calset}/dynamic-quantum-architecture",
            parse=lambda r: DynamicQuantumArchitecture.from_json(parse_json(r)),
        )
        self._dqa_cache[dqa.calibration_set_id] = dqa
        return dqa

    async def calibration_set(self, calibration_set_id: str | None = None) -> ObservationSet:
        """Return the default or a given calibration set as IQM Server serves it (its observations)."""
        calset = "default" if calibration_set_id is None else _uuid_arg(calibration_set_id, "calibration set id")
        qc = await self.quantum_computer()
        return await self.transport.request(
            "GET", f"/calibration-sets/{qc.alias}/{calset}", parse=lambda r: ObservationSet.from_json(parse_json(r))
        )

    async def calibration_metrics(self, calibration_set_id: str | None = None) -> CalibrationMetrics:
        """Return a calibration set's numbers (T1/T2, gate fidelities and durations, readout errors) per component.

        Reads the calibration set and its quality metric set (docs/protocol.md#calibration-sets-and-quality-metrics);
        for the default set, both are read for the concrete id the first answer names, so they always match.
        """
        calibration = await self.calibration_set(calibration_set_id)
        qc = await self.quantum_computer()
        metrics = await self.transport.request(
            "GET",
            f"/calibration-sets/{qc.alias}/{calibration.observation_set_id}/metrics",
            parse=lambda r: ObservationSet.from_json(parse_json(r)),
        )
        return CalibrationMetrics.from_sets(calibration, metrics, calibration_set_id=calibration.observation_set_id)

    async def static_architecture(self) -> StaticQuantumArchitecture:
        """Return the chip layout (E3)."""
        qc = await self.quantum_computer()
        return await self.transport.request(
            "GET",
            f"/quantum-computers/{qc.alias}/artifacts/static-quantum-architectures",
            parse=lambda r: StaticQuantumArchitecture.from_json(parse_json(r)),
        )

    async def submit_definition(
        self, definition: CircuitJobDefinition, *, use_timeslot: bool = False, body: bytes | None = None
    ) -> JobData:
        """Submit a wire-format job (E4) and return its JobData; the job id is known once this returns.

        ``body`` is the definition already encoded as JSON (a batch encodes it while preparing); it is sent as is.

        Raises:
            SubmissionUnknownError: if the request failed after it was sent (the job may exist).
        """
        qc = await self.quantum_computer()
        return await self.transport.request(
            "POST",
            f"/jobs/{qc.alias}/circuit",
            kind="submit",
            json=definition.to_json() if body is None else None,
            content=body,
            params={"use_timeslot": "true" if use_timeslot else "false"},
            parse=lambda r: JobData.from_json(parse_json(r)),
            context={
                "quantum_computer": qc.alias,
                "circuit_names": [c.name for c in definition.circuits],
                "shots": definition.parameters.shots,
            },
        )

    async def job_data(self, job_id: str) -> JobData:
        """Return a job's status and metadata (E5)."""
        job_id = _uuid_arg(job_id, "job id")
        job = await self.transport.request(
            "GET", f"/jobs/{job_id}", parse=lambda r: JobData.from_json(parse_json(r)), job_id=job_id
        )
        self._warn_unknown_status(job)
        return job

    async def job_payload(self, job_id: str) -> CircuitJobDefinition:
        """Return the job definition as the server stored it (E6)."""
        job_id = _uuid_arg(job_id, "job id")
        return await self.transport.request(
            "GET",
            f"/jobs/{job_id}/payload",
            parse=lambda r: CircuitJobDefinition.from_json(parse_json(r), error=MalformedResponseError),
            job_id=job_id,
        )

    async def measurements(self, job_id: str) -> list[dict[str, BitArray]]:
        """Return the per-shot measurement artifact (E7) as arrays, one dict per circuit."""
        job_id = _uuid_arg(job_id, "job id")
        return await self.transport.request(
            "GET",
            f"/jobs/{job_id}/artifacts/measurements",
            parse=lambda r: parse_measurements_json(r.content),
            job_id=job_id,
        )

    async def measurement_counts(self, job_id: str) -> list[dict[str, Any]]:
        """Return the histogram artifact (E8) as sent (IQM's bit order, not Qiskit's)."""
        job_id = _uuid_arg(job_id, "job id")
        data = await self.transport.request(
            "GET", f"/jobs/{job_id}/artifacts/measurement_counts", parse=parse_json, job_id=job_id
        )
        if not isinstance(data, list):
            raise MalformedResponseError("measurement_counts: expected a list with one entry per circuit")
        return data

    async def cancel_job(self, job_id: str) -> None:
        """Ask the server to cancel a job (E9); read its status afterwards to learn the outcome."""
        job_id = _uuid_arg(job_id, "job id")
        await self.transport.request(
            "POST", f"/jobs/{job_id}/cancel", kind="cancel", parse=parse_nothing, job_id=job_id
        )

    async def delete_job(self, job_id: str) -> None:
        """Cancel a job and delete it for good (E10)."""
        job_id = _uuid_arg(job_id, "job id")
        await self.transport.request("DELETE", f"/jobs/{job_id}", kind="delete", parse=parse_nothing, job_id=job_id)

    async def health(self) -> dict[str, Any]:
        """Return the quantum computer's health report (E11), passed through unchanged."""
        qc = await self.quantum_computer()
        data = await self.transport.request("GET", f"/quantum-computers/{qc.alias}/health", parse=parse_json)
        return data if isinstance(data, dict) else {"health": data}

    async def about(self) -> dict[str, Any]:
        """Return version information of the server and the station (E12), as IQM's client does."""
        qc = await self.quantum_computer()
        about = await self.transport.request("GET", "/about", parse=parse_json)
        station = await self.transport.request(
            "GET", f"/quantum-computers/{qc.alias}/artifacts/about", parse=parse_json
        )
        result = dict(about) if isinstance(about, dict) else {"about": about}
        if isinstance(station, dict):
            versions = station.get("software_versions") or {}
            result["about_station"] = {
                "version": station.get("version"),
                "software_versions": {k: v for k, v in dict(versions).items() if str(k).startswith("iqm-")},
            }
        return result

    # ---------------------------------------------------------------- circuits

    async def submit(
        self,
        circuits: QuantumCircuit | Sequence[QuantumCircuit],
        shots: int = DEFAULT_SHOTS,
        *,
        qubit_names: Sequence[str] | None = None,
        use_timeslot: bool = False,
        tags: str | Sequence[str] | None = None,
        **options: Any,
    ) -> AsyncJob:
        """Convert, validate and submit Qiskit circuits as one job; return its :class:`~iqm_async.AsyncJob`.

        The circuits must use the backend's native gates (transpile first). They are checked against
        the current calibration's architecture before anything is sent.

        Args:
            circuits: one circuit or a sequence of them (one job).
            shots: shots per circuit.
            qubit_names: physical name of each Qiskit qubit index; default: the DQA's qubits in order.
            use_timeslot: submit to the timeslot queue.
            tags: your labels for the job, kept in the job ledger (see :meth:`jobs`, :meth:`usage`).
            options: job options of docs/protocol.md#submitting-a-job (``calibration_set_id``, ``heralding_mode``, …).

        Raises:
            CircuitValidationError: for an unsupported gate, an off-chip qubit, bad shots, a bad tag or an
                unknown option; nothing is sent.
            SubmissionUnknownError: if the submit failed after the request was sent.
        """
        prepared = await self.prepare(circuits, shots, qubit_names=qubit_names, tags=tags, **options)
        return await self.submit_prepared(prepared, use_timeslot=use_timeslot)

    async def prepare(
        self,
        circuits: QuantumCircuit | Sequence[QuantumCircuit],
        shots: int = DEFAULT_SHOTS,
        *,
        qubit_names: Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        **options: Any,
    ) -> PreparedJob:
        """Convert and validate circuits into a job definition without sending it (``tags`` ride along)."""
        from .qiskit_convert import circuits_to_wire, registers_of
        from .qiskit_convert import qubit_names as default_qubit_names
        from .validation import check_qubit_names, check_shots, validate_job

        tag_tuple = normalize_tags(tags)
        unknown = set(options) - _JOB_OPTIONS
        if unknown:
            raise CircuitValidationError(
                f"Unknown job option(s) {sorted(unknown)}{_suggest(unknown, _JOB_OPTIONS | {'shots'})}; "
                f"allowed: {sorted(_JOB_OPTIONS)} and shots."
            )
        shots = check_shots(shots)
        calset = options.pop("calibration_set_id", None)
        dqa = await self.dynamic_architecture(calset)
        names = check_qubit_names(qubit_names) if qubit_names is not None else default_qubit_names(dqa)
        circuit_list = _circuit_list(circuits)
        if not circuit_list:
            raise CircuitValidationError("The job must contain at least one circuit.")
        wire = circuits_to_wire(circuit_list, names)
        try:
            params = JobParameters(shots=shots, calibration_set_id=dqa.calibration_set_id, **options)
        except TypeError as exc:  # pragma: no cover - guarded by the option check above
            raise CircuitValidationError(str(exc)) from None
        definition = CircuitJobDefinition(circuits=wire, parameters=params)
        validate_job(definition, dqa, error=CircuitValidationError)
        return PreparedJob(definition, [registers_of(c) for c in circuit_list], tag_tuple)

    async def submit_prepared(
        self, prepared: PreparedJob, *, use_timeslot: bool = False, batch_id: str | None = None
    ) -> AsyncJob:
        """Send a prepared job (E4), record it in the ledger (if any) and return its :class:`~iqm_async.AsyncJob`."""
        from .job import AsyncJob

        definition = prepared.definition
        qc = await self.quantum_computer()
        # The span and INFO record of the submit (iqm_async.telemetry), with the job id once known.
        shots = definition.parameters.shots
        with telemetry.submitting(qc.alias, len(definition.circuits), shots, clock=self.clock) as op:
            data = await self.submit_definition(definition, use_timeslot=use_timeslot, body=prepared.body)
            op.set("iqm.job_id", data.id)
        if self.ledger is not None:
            params = prepared.definition.parameters
            self.ledger.record_submit(
                data,
                server_url=self.url,
                quantum_computer=None if self._qc is None else self._qc.alias,
                circuits=len(prepared.definition.circuits),
                shots=params.shots,
                tags=prepared.tags,
                batch_id=batch_id,
                calibration_set_id=params.calibration_set_id,
            )
        return AsyncJob(self, data.id, definition=prepared.definition, registers=prepared.registers, job_data=data)

    def job(
        self,
        job_id: str,
        *,
        definition: CircuitJobDefinition | None = None,
        registers: Sequence[Sequence[tuple[str, int]]] | None = None,
    ) -> AsyncJob:
        """Re-attach to an existing job by id (for example from another process).

        Args:
            job_id: the job's UUID.
            definition: the job's definition when the caller still has it (saves fetching the payload).
            registers: the circuits' register layouts, so results keep registers that were never measured.
        """
        from .job import AsyncJob

        return AsyncJob(self, _uuid_arg(job_id, "job id"), definition=definition, registers=registers)

    # ---------------------------------------------------------------- batches (see iqm_async.batch)

    # Functions of iqm_async.batch.api bound as methods: one explicit signature each (typed, shown by help()).
    run_batch = _run_batch
    resume_batch = _resume_batch

    # ---------------------------------------------------------------- the job ledger (see iqm_async.ledger)

    def _require_ledger(self) -> Ledger:
        if self.ledger is None:
            raise LedgerError(
                "This client has no job ledger: pass ledger=True (or a path) to AsyncIQMClient, "
                "or set IQM_ASYNC_LEDGER."
            )
        return self.ledger

    async def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        since: datetime | date | timedelta | str | None = None,
        limit: int | None = None,
        refresh: bool = False,
    ) -> list[LedgerEntry]:
        """List this server's jobs from the ledger, newest first; ``refresh=True`` first re-reads unfinished ones.

        Args:
            status: an IQM status, several, or ``"unfinished"`` / ``"final"``.
            tags: only jobs carrying all of these tags.
            since: only jobs submitted since then (datetime, date, timedelta ago, or ISO-8601 text).
            limit: at most this many.
            refresh: ask the server for the status of every matching unfinished job first (one E5 each).

        Raises:
            LedgerError: the client has no ledger, or it cannot be read.
        """
        ledger = self._require_ledger()
        entries = ledger.jobs(status=status, tags=tags, since=since, limit=limit, server_url=self.url)
        stale = [e.job_id for e in entries if not e.is_final] if refresh else []
        if not stale:
            return entries
        for job_id in stale:
            ledger.note(await self.job_data(job_id))
        return ledger.jobs(status=status, tags=tags, since=since, limit=limit, server_url=self.url)

    def usage(self, *, since: datetime | date | timedelta | str | None = None) -> UsageReport:
        """Sum the QPU seconds of this server's recorded jobs by quantum computer and by tag.

        Raises:
            LedgerError: the client has no ledger, or it cannot be read.
        """
        return self._require_ledger().usage(since=since, server_url=self.url)

    # ---------------------------------------------------------------- helpers

    def _warn_unknown_status(self, job: JobData) -> None:
        from .models import KNOWN_STATUSES

        if job.status not in KNOWN_STATUSES and (job.id, job.status) not in self._warned_statuses:
            self._warned_statuses.add((job.id, job.status))
            message = f"Job {job.id} has status {job.status!r}, unknown to this client; treating it as not finished."
            logger.warning(message, extra=fields(job_id=job.id, job_status=job.status))


def _circuit_list(circuits: object) -> list[Any]:
    """Return one circuit or any iterable of them (list, tuple, NumPy array, generator) as a list."""
    from qiskit.circuit import QuantumCircuit

    if isinstance(circuits, QuantumCircuit):
        return [circuits]
    if isinstance(circuits, (str, bytes, Mapping)) or not isinstance(circuits, Iterable):
        raise CircuitValidationError(
            f"circuits must be a QuantumCircuit or a sequence of them, got {type(circuits).__name__}"
        )
    return list(circuits)


def _suggest(unknown: Iterable[str], known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the nearest known name of the first close miss, or ``""``."""
    known = sorted(known)
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    return ""


class PreparedJob:
    """A validated job definition with the circuits' register layouts (and the job's tags), ready to send.

    ``body``, when given, is the definition already encoded as JSON (what a batch's preparation produces).
    """

    __slots__ = ("body", "definition", "registers", "tags")

    def __init__(
        self,
        definition: CircuitJobDefinition,
        registers: list[list[tuple[str, int]]],
        tags: tuple[str, ...] = (),
        body: bytes | None = None,
    ):
        self.definition = definition
        self.registers = registers
        self.tags = tags
        self.body = body
