"""Planning a batch: circuits grouped into jobs, converted and validated, and the journal's spec (new or resumed)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._config import DEFAULT_SHOTS
from .._journal import (
    ChunkHash,
    Journal,
    JournalContents,
    JournalError,
    canonical_json,
    encode_groups,
    sha256_of,
)
from .._logging import fields
from .._version import __version__
from ..errors import CircuitValidationError, SubmissionUnknownError, ValidationError, error_from_response
from ..models import JobParameters

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from ..client import AsyncIQMClient, PreparedJob
    from ..job import AsyncJob
    from ..sweeps import Part, Pipeline, SweepInput

__all__ = [
    "DEFAULT_CIRCUITS_PER_JOB",
    "MAX_JOB_BODY_BYTES",
    "Group",
    "Plan",
    "SweepOptions",
    "plan_new",
    "plan_resume",
    "prepared_job",
]

logger = logging.getLogger("iqm_async.batch")

DEFAULT_CIRCUITS_PER_JOB = 100
"""Circuits per job when the caller gives none: few requests per circuit, results still stream."""

MAX_JOB_BODY_BYTES = 8 * 1024 * 1024
"""Largest job body a batch builds: under IQM's 10 MiB cost step and the server's body limit."""

class Group:
    """One job's worth of circuits: indices ``start <= i < stop``."""

    __slots__ = ("borrowed", "finished", "index", "job", "prepared", "record", "running", "start", "stop")

    def __init__(self, index: int, start: int, stop: int):
        self.index = index
        self.start = start
        self.stop = stop
        self.prepared: PreparedJob | None = None
        self.job: AsyncJob | None = None
        self.record: Exception | None = None  # error recorded in the journal (resume)
        self.running = False
        self.borrowed = False  # holds a max_in_flight token
        self.finished = False

    @property
    def size(self) -> int:
        """Circuits in the group."""
        return self.stop - self.start


@dataclass
class SweepOptions:
    """How a batch prepares its items: parameter values, transpiling, and where the CPU stage runs."""

    parameter_values: Any = None
    transpile: Any = None
    optimization_level: int | None = None
    seed_transpiler: int | None = None
    executor: Any = "auto"
    stream: bool | None = None


@dataclass
class Plan:
    """What a batch runs: its groups, its spec (as journaled) and the settings every submit uses.

    A streamed plan has no groups yet: ``feed`` prepares them chunk by chunk while the batch submits.
    """

    spec: dict[str, Any]
    groups: list[Group]
    circuits: int
    shots: int
    options: dict[str, Any]
    qubit_names: list[str] | None
    use_timeslot: bool
    journal: Journal | None = None
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    feed: Pipeline | None = None
    items: SweepInput | None = None
    parameters: JobParameters | None = None


def prepared_job(part: Part, parameters: JobParameters, tags: tuple[str, ...]) -> PreparedJob:
    """Return a prepared part as a job ready to submit (its body encoded already)."""
    from ..client import PreparedJob

    return PreparedJob(part.definition(parameters), part.registers, tags, body=part.body(parameters))


async def _pipeline(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit],
    ranges: Callable[[int], list[tuple[int, int]]],
    *,
    shots: int,
    qubit_names: Sequence[str] | None,
    options: dict[str, Any],
    sweep: SweepOptions,
) -> tuple[Pipeline, JobParameters]:
    """Set up the CPU stage of a batch: items, architecture, job parameters, transpiling and executor.

    Nothing is sent but the architecture read; every check that needs no conversion happens here, and the
    swept circuits (those with parameter values) are transpiled and converted, so their errors come first.
    """
    from ..qiskit_convert import qubit_names as default_qubit_names
    from ..sweeps import Pipeline, StageSettings, SweepInput, resolve_transpile
    from ..sweeps.pipeline import choose_executor

    dqa = await client.dynamic_architecture(options.get("calibration_set_id"))
    # A concrete id makes every job of the batch use this calibration set, and the cached DQA.
    options["calibration_set_id"] = dqa.calibration_set_id
    try:
        parameters = JobParameters(shots=shots, **options)
    except TypeError as exc:
        raise CircuitValidationError(str(exc)) from None
    parameters.check(CircuitValidationError)
    names = list(qubit_names) if qubit_names is not None else default_qubit_names(dqa)
    items = SweepInput(circuits, sweep.parameter_values)
    spec = resolve_transpile(
        sweep.transpile, dqa, names, optimization_level=sweep.optimization_level, seed_transpiler=sweep.seed_transpiler
    )
    settings = StageSettings(tuple(names), dqa, parameters, MAX_JOB_BODY_BYTES, spec)
    executor, owned = choose_executor(sweep.executor, items, spec is not None)
    pipeline = Pipeline(items, settings, ranges(items.total), executor, owned=owned)
    try:
        await pipeline.build_templates()
    except BaseException:
        pipeline.close()
        raise
    return pipeline, parameters


async def plan_new(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit],
    *,
    shots: int,
    circuits_per_job: int,
    qubit_names: list[str] | None,
    use_timeslot: bool,
    tags: tuple[str, ...],
    options: Mapping[str, Any],
    journal_path: str | None,
    sweep: SweepOptions | None = None,
) -> Plan:
    """Prepare every item into jobs (or only start to, when streamed), then create the journal with the spec.

    Nothing is sent but the architecture read: unless the plan is streamed, a bad circuit fails the whole
    batch here; a streamed plan still fails here for bad parameter values and bad swept circuits.
    """
    sweep = sweep or SweepOptions()
    options = dict(options)

    def ranges(total: int) -> list[tuple[int, int]]:
        return [(a, min(a + circuits_per_job, total)) for a in range(0, total, circuits_per_job)]

    pipeline, parameters = await _pipeline(
        client, circuits, ranges, shots=shots, qubit_names=qubit_names, options=options, sweep=sweep
    )
    stream = sweep.stream
    if stream is None:
        # Small batches prepare in well under a second, so all or nothing costs nothing there; large ones
        # (those that get an executor) submit their first job as soon as it is ready.
        stream = journal_path is None and pipeline.executor is not None and len(pipeline.ranges) > 1
    groups: list[Group] = []
    total = pipeline.sweep.total
    try:
        if stream and journal_path is not None:
            raise ValidationError(
                "stream=True cannot be used with a journal: the journal's spec holds the hash of every circuit, "
                "so a journaled batch is prepared completely before anything is sent."
            )
        qc = await client.quantum_computer()
        spec: dict[str, Any] = {
            "batch_id": str(uuid.uuid4()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "client": f"iqm_async {__version__}",
            "url": client.url,
            "quantum_computer": qc.alias,
            "circuits": total,
            "shots": shots,
            "options": options,
            "qubit_names": qubit_names,
            "use_timeslot": use_timeslot,
            "tags": list(tags),
            "parameters_sha256": sha256_of([canonical_json(parameters.to_json() if total else {})]),
        }
        if sweep.parameter_values is not None or pipeline.settings.transpile is not None:
            spec["sweep"] = {
                "parameter_values": sweep.parameter_values is not None,
                "transpiled": pipeline.settings.transpile is not None,
            }
        if stream:
            return Plan(
                spec, [], total, shots, options, qubit_names, use_timeslot, None, tags=tags, feed=pipeline,
                items=pipeline.sweep, parameters=parameters,
            )  # fmt: skip
        hashes = ChunkHash()  # fed circuit by circuit, for the journal (the only reader of the hash)
        async for parts in pipeline.parts():
            for part in parts:
                if journal_path is not None:
                    for encoded in part.encoded:
                        hashes.update(encoded)
                group = Group(len(groups), part.start, part.stop)
                group.prepared = prepared_job(part, parameters, tags)
                groups.append(group)
        spec["groups"] = encode_groups([g.size for g in groups])
        if journal_path is not None:
            spec["circuits_sha256"] = hashes.hexdigest()
    finally:
        if not stream:
            pipeline.close()
    journal = None
    if journal_path is not None:
        journal = Journal(journal_path, create=True)
        try:
            journal.spec(spec)
        except BaseException:
            journal.close()
            raise
    return Plan(
        spec, groups, total, shots, options, qubit_names, use_timeslot, journal, tags=tags, items=pipeline.sweep,
        parameters=parameters,
    )  # fmt: skip


async def plan_resume(
    client: AsyncIQMClient,
    journal_path: str,
    circuits: Sequence[QuantumCircuit] | None,
    sweep: SweepOptions | None = None,
) -> Plan:
    """Re-attach to a journaled batch: every recorded job is tracked, nothing recorded is submitted again.

    The journal is opened (and locked against other processes) before it is read, so two processes can
    never both decide that the same group still needs a submit. A journal that cannot be written (a
    read-only place) is still read and locked for reading: its recorded jobs can be collected, but
    groups that would need a new submit are refused.
    """
    journal = Journal(journal_path, create=False, readonly_ok=True)
    try:
        plan = await _resume_from(client, journal, journal.read(), circuits, sweep or SweepOptions())
    except BaseException:
        journal.close()
        raise
    return plan


async def _resume_from(
    client: AsyncIQMClient,
    journal: Journal,
    contents: JournalContents,
    circuits: Sequence[QuantumCircuit] | None,
    sweep: SweepOptions,
) -> Plan:
    spec = contents.spec
    path = journal.path
    if spec.get("url") != client.url:
        logger.warning(
            "resuming batch journal %s of %s on %s", path, spec.get("url"), client.url,
            extra=fields(batch_id=str(spec.get("batch_id")) if spec.get("batch_id") else None),
        )
    names = spec.get("qubit_names")
    plan = Plan(
        spec=spec,
        groups=[Group(i, a, b) for i, (a, b) in enumerate(contents.ranges)],
        circuits=int(spec["circuits"]),
        shots=int(spec.get("shots", DEFAULT_SHOTS)),
        options=dict(spec.get("options") or {}),
        qubit_names=None if names is None else [str(n) for n in names],
        use_timeslot=bool(spec.get("use_timeslot", False)),
        journal=journal,
        tags=tuple(str(t) for t in spec.get("tags") or ()),
    )
    if circuits is not None:
        ranges = list(contents.ranges)
        pipeline, parameters = await _pipeline(
            client,
            circuits,
            lambda total: ranges,
            shots=plan.shots,
            qubit_names=plan.qubit_names,
            options=plan.options,
            sweep=sweep,
        )
        plan.items, plan.parameters = pipeline.sweep, parameters
        hashes = ChunkHash()
        try:
            if pipeline.sweep.total != plan.circuits:
                raise JournalError(
                    f"The journal {path} is for {plan.circuits} circuits; {pipeline.sweep.total} were passed."
                )
            groups = iter(plan.groups)
            async for parts in pipeline.parts():
                group = next(groups)
                for part in parts:
                    for encoded in part.encoded:
                        hashes.update(encoded)
                group.prepared = prepared_job(parts[0], parameters, plan.tags) if len(parts) == 1 else None
        finally:
            pipeline.close()
        if hashes.hexdigest() != spec.get("circuits_sha256"):
            raise JournalError(
                f"The circuits passed differ from the ones journaled in {path} (hash mismatch); pass the original "
                "circuits (with the same parameter_values and transpile settings), or none to only collect the "
                "recorded jobs."
            )
    for group, record in zip(plan.groups, contents.groups):
        if record.job_id is not None:
            known = group.prepared
            group.job = (
                client.job(record.job_id)
                if known is None
                else client.job(record.job_id, definition=known.definition, registers=known.registers)
            )
            group.prepared = None
        elif record.unknown_message is not None:
            group.prepared = None
            group.record = _unknown_from_journal(spec, record.unknown_message, record.at, group, plan.shots)
        elif record.refused_status is not None:
            group.prepared = None
            body = canonical_json(record.refused_body) if record.refused_body is not None else b""
            group.record = error_from_response(record.refused_status, body)
    needs_submit = any(g.prepared is not None for g in plan.groups)
    if journal.readonly:
        if needs_submit:
            raise JournalError(
                f"The batch journal {path} is read-only, so the groups it has no job for cannot be submitted and "
                "recorded. Resume without circuits= to collect the recorded jobs, or copy the journal to a "
                "writable place.",
                job_ids=[g.job.job_id for g in plan.groups if g.job is not None],
            )
        plan.notes.append(f"the journal {path} is read-only: collecting its recorded jobs without writing to it")
    else:
        journal.resume()
    return plan


def _unknown_from_journal(
    spec: Mapping[str, Any], message: str, at: str | None, group: Group, shots: int
) -> SubmissionUnknownError:
    """Rebuild the error of a journaled ambiguous submit, with what is known, so a user can decide."""
    return SubmissionUnknownError(
        f"Circuits {group.start}-{group.stop - 1} of this batch were submitted at {at or 'an unknown time'}, but the "
        f"server's answer never arrived, so the job may or may not exist; it was not submitted again. Look for it "
        f"in the server's job list (quantum computer {spec.get('quantum_computer', '?')}, {group.size} circuits, "
        f"{shots} shots) before running these circuits again. Original error: {message}",
        quantum_computer=str(spec.get("quantum_computer", "?")),
        circuit_names=[],
        shots=shots,
    )


