"""Planning a batch: circuits grouped into jobs, converted and validated, and the journal's spec (new or resumed)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

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
from .._version import __version__
from ..errors import SubmissionUnknownError, error_from_response

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from ..client import AsyncIQMClient, PreparedJob
    from ..job import AsyncJob

__all__ = ["DEFAULT_CIRCUITS_PER_JOB", "MAX_JOB_BODY_BYTES", "Group", "Plan", "plan_new", "plan_resume"]

logger = logging.getLogger("iqm_async")

DEFAULT_CIRCUITS_PER_JOB = 100
"""Circuits per job when the caller gives none: few requests per circuit, results still stream."""

MAX_JOB_BODY_BYTES = 8 * 1024 * 1024
"""Largest job body a batch builds: under IQM's 10 MiB cost step and the server's body limit."""

_PREPARE_YIELD_EVERY = 32
"""Groups converted between two checkpoints, so a large batch does not starve the event loop."""


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
class Plan:
    """What a batch runs: its groups, its spec (as journaled) and the settings every submit uses."""

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
) -> Plan:
    """Convert and validate every circuit into jobs, then create the journal (if any) with the batch's spec.

    Nothing is sent but the architecture read: a bad circuit fails the whole batch here.
    """
    options = dict(options)
    dqa = await client.dynamic_architecture(options.get("calibration_set_id"))
    # A concrete id makes every prepare() below use the cached DQA instead of asking for "default".
    options["calibration_set_id"] = dqa.calibration_set_id
    prepared: list[tuple[int, int, PreparedJob]] = []
    hashes = ChunkHash()  # fed circuit by circuit: the encoded circuits are never all in memory
    for n, start in enumerate(range(0, len(circuits), circuits_per_job)):
        stop = min(start + circuits_per_job, len(circuits))
        prepared.extend(
            await _prepare_range(client, circuits, start, stop, hashes, shots, qubit_names, options, tags)
        )
        if n % _PREPARE_YIELD_EVERY == _PREPARE_YIELD_EVERY - 1:
            await anyio.lowlevel.checkpoint()
    params = prepared[0][2].definition.parameters.to_json() if prepared else {}
    qc = await client.quantum_computer()
    spec = {
        "batch_id": str(uuid.uuid4()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "client": f"iqm_async {__version__}",
        "url": client.url,
        "quantum_computer": qc.alias,
        "circuits": len(circuits),
        "groups": encode_groups([b - a for a, b, _ in prepared]),
        "shots": shots,
        "options": options,
        "qubit_names": qubit_names,
        "use_timeslot": use_timeslot,
        "tags": list(tags),
        "circuits_sha256": hashes.hexdigest(),
        "parameters_sha256": sha256_of([canonical_json(params)]),
    }
    groups = [Group(i, a, b) for i, (a, b, _) in enumerate(prepared)]
    for group, (_, _, job) in zip(groups, prepared):
        group.prepared = job
    journal = None
    if journal_path is not None:
        journal = Journal(journal_path, create=True)
        try:
            journal.spec(spec)
        except BaseException:
            journal.close()
            raise
    return Plan(spec, groups, len(circuits), shots, options, qubit_names, use_timeslot, journal, tags=tags)


async def _prepare_range(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit],
    start: int,
    stop: int,
    hashes: ChunkHash,
    shots: int,
    qubit_names: list[str] | None,
    options: Mapping[str, Any],
    tags: tuple[str, ...],
) -> list[tuple[int, int, PreparedJob]]:
    """Convert circuits ``start:stop`` into one job, or several if the body would be too large."""
    job = await client.prepare(list(circuits[start:stop]), shots, qubit_names=qubit_names, tags=tags, **options)
    encoded = [canonical_json(c.to_json()) for c in job.definition.circuits]
    if stop - start > 1 and sum(len(e) for e in encoded) > MAX_JOB_BODY_BYTES:
        mid = (start + stop) // 2
        return [
            *await _prepare_range(client, circuits, start, mid, hashes, shots, qubit_names, options, tags),
            *await _prepare_range(client, circuits, mid, stop, hashes, shots, qubit_names, options, tags),
        ]
    for chunk in encoded:
        hashes.update(chunk)
    return [(start, stop, job)]


async def plan_resume(
    client: AsyncIQMClient, journal_path: str, circuits: Sequence[QuantumCircuit] | None
) -> Plan:
    """Re-attach to a journaled batch: every recorded job is tracked, nothing recorded is submitted again.

    The journal is opened (and locked against other processes) before it is read, so two processes can
    never both decide that the same group still needs a submit. A journal that cannot be written (a
    read-only place) is still read and locked for reading: its recorded jobs can be collected, but
    groups that would need a new submit are refused.
    """
    journal = Journal(journal_path, create=False, readonly_ok=True)
    try:
        plan = await _resume_from(client, journal, journal.read(), circuits)
    except BaseException:
        journal.close()
        raise
    return plan


async def _resume_from(
    client: AsyncIQMClient,
    journal: Journal,
    contents: JournalContents,
    circuits: Sequence[QuantumCircuit] | None,
) -> Plan:
    spec = contents.spec
    path = journal.path
    if spec.get("url") != client.url:
        logger.warning("resuming batch journal %s of %s on %s", path, spec.get("url"), client.url)
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
        if len(circuits) != plan.circuits:
            raise JournalError(f"The journal {path} is for {plan.circuits} circuits; {len(circuits)} were passed.")
        hashes = ChunkHash()
        for n, group in enumerate(plan.groups):
            parts = await _prepare_range(
                client,
                circuits,
                group.start,
                group.stop,
                hashes,
                plan.shots,
                plan.qubit_names,
                plan.options,
                plan.tags,
            )
            group.prepared = parts[0][2] if len(parts) == 1 else None
            if n % _PREPARE_YIELD_EVERY == _PREPARE_YIELD_EVERY - 1:
                await anyio.lowlevel.checkpoint()
        if hashes.hexdigest() != spec.get("circuits_sha256"):
            raise JournalError(
                f"The circuits passed differ from the ones journaled in {path} (hash mismatch); "
                "pass the original circuits, or none to only collect the recorded jobs."
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


