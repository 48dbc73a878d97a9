"""``IQMBackend``: a Qiskit ``BackendV2`` for one IQM quantum computer and calibration set.

Usage::

    backend = IQMProvider(url).get_backend()
    job = backend.run(transpile(circuit, backend), shots=1000)
    counts = job.result().get_counts()

The transpilation target is built by :func:`iqm_async.transpiler.build_target` from the dynamic
quantum architecture (DQA) of the backend's calibration set: ``r`` (IQM's ``prx``), ``cz`` and
``measure`` on their calibrated loci, plus ``id``, ``delay`` and ``reset``, which every qubit accepts.
Qiskit index *i* is the *i*-th name of :func:`iqm_async.qiskit_convert.qubit_names` (docs/protocol.md#qubit-names):
the qubits with both ``prx`` and ``measure``, in DQA order, then the resonators.

On star chips (computational resonators with ``move``) ``target`` is the qubit-only view: the
resonators are not Qiskit qubits, and qubits that meet in a resonator get a ``cz``. The backend's
scheduling stage (``get_scheduling_stage_plugin()``) routes those through the resonator with MOVEs
and appends the resonators, so ``transpile(circuit, backend)`` gives a circuit that runs.
``target_with_resonators`` (with ``move``) is for circuits that place MOVEs themselves, and
``get_real_target()`` lists only what the hardware runs.

:meth:`IQMBackend.run` makes two calls into the core through the portal: one reads the server's
current default calibration set (to warn about drift, docs/protocol.md#qubit-names, *before* anything is sent, so that a
warning promoted to an error never leaves an orphan job), and one converts, validates and submits.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import CouplingMap, Target

import iqm_async
from iqm_async import AsyncIQMClient, AsyncJob, PreparedJob
from iqm_async._config import DEFAULT_SHOTS
from iqm_async.calibration import CalibrationMetrics
from iqm_async.errors import ValidationError
from iqm_async.models import Circuit, CircuitJobDefinition, DynamicQuantumArchitecture
from iqm_async.qiskit_convert import circuit_to_wire, with_register_layouts
from iqm_async.qiskit_convert import qubit_names as dqa_qubit_names
from iqm_async.transpiler import DEFAULT_PLUGIN, IQMTarget, MoveGate, build_target
from iqm_async.transpiler.calibrated import apply_metrics
from iqm_async.validation import check_uuid

from ._compat import IQMArchitecture, crystal_coupling_map, take_job_options
from ._runner import PortalRunner
from .batch import run_batch as _run_batch
from .job import IQMJob
from .sync_client import IQMClient

if TYPE_CHECKING:
    from .provider import IQMProvider

__all__ = ["IQMBackend", "MoveGate", "build_target"]

logger = logging.getLogger("iqm_sync_shim")

T = TypeVar("T")

_IGNORED_OPTIONS = frozenset({"memory", "seed_simulator"})
"""Options Qiskit's primitives always pass: memory is always returned, and a real device has no seed."""


class IQMBackend(BackendV2):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A Qiskit backend for one IQM quantum computer: the drop-in for ``iqm.qiskit_iqm.IQMBackend``.

    Created by :meth:`IQMProvider.get_backend`. Everything it sends goes through the provider's one
    async client on the shim's portal loop.

    Args:
        provider: the provider whose client the backend uses.
        architecture: the DQA of the backend's calibration set.
        name: the backend name (the quantum computer's alias).
        use_default_calibration_set: True when the backend follows the server's default calibration
            set; ``run()`` then warns when that default has moved on since the backend was created.
        kwargs: backend options to set (see :meth:`_default_options`).
    """

    def __init__(
        self,
        provider: IQMProvider,
        architecture: DynamicQuantumArchitecture,
        *,
        name: str,
        use_default_calibration_set: bool = True,
        metrics: CalibrationMetrics | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            provider=provider,
            name=name,
            description=f"IQM quantum computer {name!r}",
            backend_version=iqm_async.__version__,
            **kwargs,
        )
        self._iqm_provider = provider
        self.architecture: IQMArchitecture = IQMArchitecture.of(architecture)
        """The dynamic quantum architecture the target was built from (``calibration_set_id`` a ``UUID``, as IQM's)."""
        self._sync_client: IQMClient | None = None
        self._coupling_map_iqm: CouplingMap | None = None
        self.metrics: CalibrationMetrics | None = metrics
        """The calibration set's numbers the target carries (``get_backend(use_metrics=True)``), else None."""
        self._use_default_calibration_set = use_default_calibration_set
        self._qubit_names = dqa_qubit_names(architecture)
        self._qb_to_idx = {name: i for i, name in enumerate(self._qubit_names)}
        self._target = self._with_metrics(build_target(architecture, self._qubit_names))
        self._max_circuits: int | None = None

    def __repr__(self) -> str:
        return f"<IQMBackend {self.name!r} calibration_set_id={self.calibration_set_id!r}>"

    # ------------------------------------------------------------------ BackendV2

    @classmethod
    def _default_options(cls) -> Options:
        """Return the run options' defaults: 1024 shots, as in Qiskit."""
        return Options(shots=DEFAULT_SHOTS)

    @property
    def target(self) -> Target:
        """The transpilation target built from the calibration set's architecture (qubit-only on star chips)."""
        return self._target

    @property
    def target_with_resonators(self) -> IQMTarget:
        """The target with the computational resonators as qubits, ``move`` and the qubit–resonator loci.

        Raises:
            ValueError: when the chip has no computational resonators.
        """
        if not self.architecture.computational_resonators or "move" not in self.architecture.gates:
            raise ValidationError("The backend does not have computational resonators.")
        return self._with_metrics(build_target(self.architecture, self._qubit_names, include_resonators=True))

    def get_real_target(self) -> IQMTarget:
        """Return the target of what the hardware runs: resonators included, no qubit–qubit ``cz`` through them."""
        return self._with_metrics(
            build_target(self.architecture, self._qubit_names, include_resonators=True, include_fictional_czs=False)
        )

    def _with_metrics(self, target: IQMTarget) -> IQMTarget:
        """Return ``target`` with the metrics' errors and durations, when the backend has metrics."""
        return target if self.metrics is None else apply_metrics(target, self.metrics)

    def get_scheduling_stage_plugin(self) -> str:
        """Return the scheduling plugin Qiskit's ``transpile`` uses for this backend (MOVE routing on star chips)."""
        return DEFAULT_PLUGIN

    @property
    def max_circuits(self) -> int | None:
        """Most circuits per job that batching tools (primitives, Qiskit Experiments) should send; None: no limit."""
        return self._max_circuits

    @max_circuits.setter
    def max_circuits(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValidationError(f"max_circuits must be a positive integer or None, got {value!r}")
        self._max_circuits = value

    # ------------------------------------------------------------------ IQM specifics

    @property
    def calibration_set_id(self) -> str:
        """The calibration set every job of this backend is sent with."""
        return str(self.architecture.calibration_set_id)

    @property
    def coupling_map(self) -> CouplingMap:
        """Couplers as IQM's adapter lists them: on a crystal each calibrated CZ once, in the DQA's order.

        On a star chip it is the qubit-only target's map (qubit pairs that can meet in the resonator).
        """
        if self._coupling_map_iqm is None:
            if self.has_resonators():
                self._coupling_map_iqm = self.target.build_coupling_map()
            else:
                self._coupling_map_iqm = crystal_coupling_map(self.architecture, self._qb_to_idx)
        return self._coupling_map_iqm

    @property
    def physical_qubits(self) -> list[str]:
        """Component name of each Qiskit qubit index (qubits, then computational resonators)."""
        return list(self._qubit_names)

    def qubit_name_to_index(self, name: str) -> int:
        """Return the Qiskit index of a component name such as ``'QB3'``.

        Raises:
            ValueError: when the backend has no such component.
        """
        if name not in self._qb_to_idx:
            raise ValidationError(f"Qubit '{name}' is not found on the backend.")
        return self._qb_to_idx[name]

    def index_to_qubit_name(self, index: int) -> str:
        """Return the component name of a Qiskit qubit index.

        Raises:
            ValueError: when the index is out of range.
        """
        if not 0 <= index < len(self._qubit_names):
            raise ValidationError(f"Qubit index {index} is not found on the backend.")
        return self._qubit_names[index]

    def has_resonators(self) -> bool:
        """Tell whether the chip has computational resonators (a star architecture with MOVE)."""
        return bool(self.architecture.computational_resonators)

    @property
    def client(self) -> IQMClient:
        """A synchronous client with IQM client method names (``get_dynamic_quantum_architecture``, …)."""
        if self._sync_client is None:
            self._sync_client = IQMClient(self._iqm_provider)
        return self._sync_client

    @property
    def async_client(self) -> AsyncIQMClient:
        """The provider's async core client, for power users.

        It lives on the shim's portal loop: run its coroutines there with :meth:`call_core`, for
        example ``backend.call_core(AsyncIQMClient.health)``. Async code that owns its own event loop
        should create its own :class:`~iqm_async.AsyncIQMClient` instead.
        """
        return self._portal()[1]

    def call_core(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(client, *args)`` on the portal loop with the provider's async client and return its result."""
        runner, client = self._portal()
        return runner.run(fn, client, *args)

    def _portal(self) -> tuple[PortalRunner, AsyncIQMClient]:
        return self._iqm_provider._core()

    # ------------------------------------------------------------------ running circuits

    def run(
        self,
        run_input: QuantumCircuit | Sequence[QuantumCircuit],
        *,
        shots: int | None = None,
        timeout_seconds: float | None = None,
        calibration_set_id: str | uuid.UUID | None = None,
        **options: Any,
    ) -> IQMJob:
        """Submit transpiled circuits as one job and return its :class:`IQMJob` as soon as the server accepted it.

        Args:
            run_input: a circuit or a list of circuits, transpiled for this backend.
            shots: shots per circuit; default ``backend.options.shots`` (1024).
            timeout_seconds: how long ``job.result()`` waits by default (default 3 h).
            calibration_set_id: send the job with this calibration set instead of the backend's.
            options: ``memory`` and ``seed_simulator`` are accepted and ignored (memory is always
                returned); ``use_timeslot``, ``circuit_callback`` (called with the circuits before they
                are sent), ``qubit_index_to_name`` (``{index: name}``), ``circuit_compilation_options``
                (an object or mapping with the fields below) and the job options of docs/protocol.md#submitting-a-job
                (``max_circuit_duration_over_t2``, ``heralding_mode``, ``move_gate_validation``,
                ``move_gate_frame_tracking``, ``active_reset_cycles``, ``dd_mode``, ``dd_strategy``,
                ``qubit_mapping``) are used, and ``tags`` (labels kept in ``job.metadata["tags"]`` and the
                job ledger); anything else gives ``UserWarning("Unknown backend
                option(s): …")``.

        Raises:
            ValueError: for an empty batch, or a circuit that is not transpiled (``CircuitValidationError``).
            SubmissionUnknownError: when the submit failed after it was sent (the job may exist).
        """
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        if not circuits:
            raise ValidationError("Empty list of circuits submitted for execution.")
        shots = self.options.shots if shots is None else shots
        use_timeslot = bool(options.pop("use_timeslot", False))
        callback = options.pop("circuit_callback", None)
        index_to_name = options.pop("qubit_index_to_name", None)
        job_options = take_job_options(options)
        unknown = {k: v for k, v in options.items() if k not in _IGNORED_OPTIONS}
        if unknown:
            warnings.warn(f"Unknown backend option(s): {unknown}", UserWarning, stacklevel=2)
        if callback is not None:
            callback(circuits)
        names = self._names_for(index_to_name)

        runner, client = self._portal()
        if calibration_set_id is not None:
            calset = check_uuid(calibration_set_id, "calibration set id")
        else:
            calset = self.calibration_set_id
            if self._use_default_calibration_set:
                current = runner.run(_default_calibration_set_id, client)
                if current != calset:
                    warnings.warn(
                        f"Server default calibration set has changed from {calset} to {current}. Create a new "
                        "IQMBackend if you wish to transpile the circuits using the new calibration set.",
                        UserWarning,
                        stacklevel=2,
                    )
        core, prepared = runner.run(_submit, client, circuits, shots, names, calset, use_timeslot, job_options)
        job = IQMJob(self, core.job_id, timeout_seconds=timeout_seconds, tags=list(prepared.tags))
        job._attach(core, prepared)
        return job

    def retrieve_job(self, job_id: str) -> IQMJob:
        """Re-attach to an existing job by id (for example one submitted by another process).

        Sends one status request, so an unknown id fails here rather than at ``result()``.

        Raises:
            NotFoundError: when the server has no such job.
            MalformedResponseError: when the job is not a circuit job.
        """
        job = IQMJob(self, check_uuid(job_id, "job id"))
        job._refresh()
        return job

    # The facade's batch function takes the backend first, so it is this method as it is: one explicit
    # signature (every argument typed, shown by help()) instead of a second copy that could drift.
    run_batch = _run_batch
    """Run many circuits as concurrent jobs; blocking results and iteration (see :mod:`iqm_sync_shim.batch`)."""

    def create_circuit_job_definition(
        self,
        run_input: QuantumCircuit | Sequence[QuantumCircuit],
        shots: int = DEFAULT_SHOTS,
        circuit_compilation_options: Any = None,
        circuit_callback: Callable[[list[QuantumCircuit]], Any] | None = None,
        qubit_index_to_name: Mapping[int, str] | None = None,
        **unknown_options: Any,
    ) -> CircuitJobDefinition:
        """Build (and validate) the job definition ``run()`` would send, without sending it.

        Submit it later with ``backend.client.submit_circuit_job(definition)``. Old option keywords work
        as in :meth:`run` (with IQM's DeprecationWarning); other unknown ones warn.

        Raises:
            ValueError: for an empty batch, or a circuit that is not transpiled (``CircuitValidationError``).
        """
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        if not circuits:
            raise ValidationError("Empty list of circuits submitted for execution.")
        options = dict(unknown_options)
        options["circuit_compilation_options"] = circuit_compilation_options
        job_options = take_job_options(options)
        job_options.pop("tags", None)
        unknown = {k: v for k, v in options.items() if k not in _IGNORED_OPTIONS}
        if unknown:
            warnings.warn(f"Unknown backend option(s): {unknown}", UserWarning, stacklevel=2)
        if circuit_callback is not None:
            circuit_callback(circuits)
        names = self._names_for(qubit_index_to_name)
        runner, client = self._portal()
        prepared = runner.run(_prepare, client, circuits, shots, names, self.calibration_set_id, job_options)
        return with_register_layouts(prepared.definition, prepared.registers)

    def serialize_circuit(
        self, circuit: QuantumCircuit, qubit_index_to_name: Mapping[int, str] | None = None
    ) -> Circuit:
        """Convert a transpiled circuit to IQM's wire circuit (one key per ``measure``), without validating it.

        Raises:
            CircuitValidationError: the circuit uses an operation IQM's wire format has no form for.
        """
        return circuit_to_wire(circuit, self._names_for(qubit_index_to_name))

    def _names_for(self, index_to_name: Mapping[int, str] | None) -> list[str]:
        """Return the component name of each Qiskit index, with a user's ``{index: name}`` overriding ours."""
        names = list(self._qubit_names)
        if index_to_name:
            for i in sorted(index_to_name):
                if i < len(names):
                    names[i] = index_to_name[i]
                elif i == len(names):
                    names.append(index_to_name[i])
                else:
                    raise ValidationError(f"qubit_index_to_name has no name for qubit index {len(names)}")
        return names


# ---------------------------------------------------------------------- coroutines run on the portal loop


async def _default_calibration_set_id(client: AsyncIQMClient) -> str:
    """Return the server's current default calibration set id (one E2 ``default`` request)."""
    return (await client.dynamic_architecture(None)).calibration_set_id


async def _prepare(
    client: AsyncIQMClient,
    circuits: list[QuantumCircuit],
    shots: int,
    names: list[str],
    calset: str,
    job_options: dict[str, Any],
) -> PreparedJob:
    """Convert and validate circuits into a job definition (no request unless the DQA is not cached)."""
    return await client.prepare(circuits, shots, qubit_names=names, calibration_set_id=calset, **job_options)


async def _submit(
    client: AsyncIQMClient,
    circuits: list[QuantumCircuit],
    shots: int,
    names: list[str],
    calset: str,
    use_timeslot: bool,
    job_options: dict[str, Any],
) -> tuple[AsyncJob, PreparedJob]:
    """Convert, validate and submit a job; a submit already on the wire is finished even if the caller gives up."""
    prepared = await _prepare(client, circuits, shots, names, calset, job_options)
    # The payload carries the register layout of circuits with a register that is never measured, so
    # retrieve_job() (which has only the payload) formats results exactly as this job does.
    sent = PreparedJob(
        with_register_layouts(prepared.definition, prepared.registers), prepared.registers, prepared.tags
    )
    # Cancelling a POST half-way could create a job nobody knows about. Let it finish (the transport's
    # timeouts bound it), then report its id if the caller is gone (Ctrl-C during run()).
    with anyio.CancelScope(shield=True):
        submitted = await client.submit_prepared(sent, use_timeslot=use_timeslot)
    # Results are built from the definition as the user wrote it (no carried layout in their metadata).
    core = AsyncJob(
        client,
        submitted.job_id,
        definition=prepared.definition,
        registers=prepared.registers,
        job_data=submitted.last_data,
    )
    try:
        await anyio.lowlevel.checkpoint_if_cancelled()
    except anyio.get_cancelled_exc_class():
        logger.warning(
            "backend.run() was interrupted after job %s was submitted; it runs on the server. "
            "Re-attach with backend.retrieve_job(%r) or cancel it.",
            core.job_id,
            core.job_id,
        )
        raise
    return core, prepared
