"""The CPU stage of a batch as picklable work: transpile, bind, convert, validate and encode one chunk of circuits.

Everything here is a plain function of picklable values, so any ``concurrent.futures.Executor`` can run
it (a process pool, Dask's ``Client.get_executor()``, Ray's pool) or the event loop itself, with the
same output byte for byte: transpilation is seeded by :class:`TranspileSpec`, and nothing depends on
which process ran a chunk or in what order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit  # type: ignore[import-untyped, unused-ignore]

from ..errors import CircuitTranspilationError, CircuitValidationError, IQMError
from ..models import Circuit, CircuitJobDefinition, DynamicQuantumArchitecture, Instruction, JobParameters
from ..qiskit_convert import circuit_to_wire, registers_of
from ..validation import validate_job
from .template import WireTemplate, canonical_circuit_json

__all__ = [
    "ChunkTask",
    "Part",
    "Run",
    "StageSettings",
    "TemplateTask",
    "TranspileSpec",
    "build_template",
    "circuit_from_canonical",
    "prepare_chunk",
]


@dataclass(frozen=True)
class TranspileSpec:
    """What to transpile for, picklable: a target, the stage plugins of its backend, the level and the seed."""

    target: Any
    optimization_level: int | None = None
    seed_transpiler: int | None = None
    scheduling_method: str | None = None
    translation_method: str | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies the pass manager built from this spec in each process's cache."""

    def run(self, circuit: QuantumCircuit) -> QuantumCircuit:
        """Transpile one circuit (the pass manager is built once per process and spec)."""
        pm = _PASS_MANAGERS.get(self.key)
        if pm is None:
            from qiskit.transpiler import generate_preset_pass_manager  # type: ignore[import-untyped, unused-ignore]

            pm = generate_preset_pass_manager(
                optimization_level=2 if self.optimization_level is None else self.optimization_level,
                target=self.target,
                scheduling_method=self.scheduling_method,
                translation_method=self.translation_method,
                seed_transpiler=self.seed_transpiler,
            )
            if len(_PASS_MANAGERS) >= 8:
                _PASS_MANAGERS.pop(next(iter(_PASS_MANAGERS)))
            _PASS_MANAGERS[self.key] = pm
        return pm.run(circuit)


_PASS_MANAGERS: dict[str, Any] = {}
"""Pass managers by :attr:`TranspileSpec.key`: building one costs about as much as transpiling a small circuit."""


@dataclass(frozen=True)
class StageSettings:
    """What every chunk of one batch shares: qubit names, architecture, job parameters, body limit, transpiling."""

    qubit_names: tuple[str, ...]
    dqa: DynamicQuantumArchitecture
    parameters: JobParameters
    max_body_bytes: int
    transpile: TranspileSpec | None = None


@dataclass
class Run:
    """Consecutive items of one chunk that come from one input circuit.

    Either ``circuit`` (one item: transpiled if asked, then converted) or ``template`` with ``values``
    (one row per item, bound into the already transpiled and converted template).
    """

    source: int
    first_point: int
    circuit: QuantumCircuit | None = None
    template: WireTemplate | None = None
    values: np.ndarray | None = None
    registers: list[tuple[str, int]] | None = None

    @property
    def size(self) -> int:
        """Items in the run."""
        return 1 if self.values is None else int(self.values.shape[0])


@dataclass
class ChunkTask:
    """One job's worth of items (flat indices ``start`` onwards), as runs of input circuits.

    A task sent to another process is *shipped*: its whole circuits travel as one QPY blob (several times
    cheaper to write and read than pickled circuits) and its parts come back as canonical JSON only
    (:func:`circuit_from_canonical` rebuilds the wire circuits, far cheaper than unpickling them).
    """

    start: int
    runs: list[Run]
    settings: StageSettings
    qpy: bytes | None = None

    def ship(self) -> ChunkTask:
        """Return this task ready for another process (circuits as QPY, when QPY can write them)."""
        import io

        from qiskit import qpy  # type: ignore[import-untyped, unused-ignore]

        whole = [run for run in self.runs if run.circuit is not None]
        buffer = io.BytesIO()
        try:
            qpy.dump([run.circuit for run in whole], buffer)
        except Exception:  # metadata QPY cannot write, or a custom instruction: pickle them as they are
            return ChunkTask(self.start, self.runs, self.settings, None)
        runs = [Run(r.source, r.first_point, None, r.template, r.values, r.registers) for r in self.runs]
        return ChunkTask(self.start, runs, self.settings, buffer.getvalue())


@dataclass
class Part:
    """A prepared job: items ``start <= i < stop``, their wire circuits, canonical JSON and register layouts."""

    start: int
    stop: int
    circuits: tuple[Circuit, ...]
    encoded: list[bytes]
    registers: list[list[tuple[str, int]]]

    def body(self, parameters: JobParameters) -> bytes:
        """Return the submit body (the transport sends it as is)."""
        params = json.dumps(parameters.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
        return b'{"circuits":[' + b",".join(self.encoded) + b"]," + params[1:]

    def definition(self, parameters: JobParameters) -> CircuitJobDefinition:
        """Return the job definition of this part."""
        return CircuitJobDefinition(circuits=self.circuits, parameters=parameters)


@dataclass
class TemplateTask:
    """Transpile (if asked) and convert one input circuit into a :class:`WireTemplate`."""

    source: int
    first_index: int
    circuit: QuantumCircuit
    settings: StageSettings


def _where(index: int, source: int, point: int | None) -> str:
    if point is None:
        return f"Circuit {index} of the batch"
    return f"Circuit {index} of the batch (input circuit {source}, point {point})"


def _transpiled(circuit: QuantumCircuit, settings: StageSettings, where: str) -> QuantumCircuit:
    if settings.transpile is None:
        return circuit
    try:
        return settings.transpile.run(circuit)
    except Exception as exc:  # the transpiler raises many kinds; the batch reports which circuit
        raise CircuitTranspilationError(f"{where} could not be transpiled: {exc}") from None


def _refused(exc: Exception, where: str) -> Exception:
    """Put the circuit's place in the batch in front of a conversion or validation error (same class if ours)."""
    if isinstance(exc, IQMError) and type(exc) in (CircuitValidationError, CircuitTranspilationError):
        return type(exc)(f"{where}: {exc}")
    return CircuitValidationError(f"{where}: {exc}")


def build_template(task: TemplateTask) -> tuple[WireTemplate, list[tuple[str, int]]]:
    """Transpile and convert one parameterised input circuit; check it by validating its first binding."""
    where = _where(task.first_index, task.source, 0)
    settings = task.settings
    circuit = _transpiled(task.circuit, settings, where)
    try:
        template = WireTemplate(circuit, settings.qubit_names)
        probe = np.zeros((1, template.num_parameters))
        first, _ = template.bind(template.slot_values(probe)[0])
        validate_job(CircuitJobDefinition((first,), settings.parameters), settings.dqa, error=CircuitValidationError)
    except (CircuitValidationError, ValueError) as exc:
        raise _refused(exc, where) from None
    return template, registers_of(circuit)


def prepare_chunk(task: ChunkTask) -> list[Part]:
    """Prepare one chunk: every item converted (or bound), validated and encoded; cut if the body is too large.

    Raises:
        CircuitTranspilationError: an input circuit could not be transpiled (the message names its index).
        CircuitValidationError: an item cannot run as it is (the message names its index).
    """
    settings = task.settings
    blob = task.qpy
    shipped = blob is not None
    if blob is not None:
        import io

        from qiskit import qpy

        loaded = iter(qpy.load(io.BytesIO(blob)))
        for run in task.runs:
            if run.template is None:
                run.circuit = next(loaded)
    circuits: list[Circuit] = []
    encoded: list[bytes] = []
    registers: list[list[tuple[str, int]]] = []
    index = task.start
    for run in task.runs:
        if run.template is not None:
            assert run.values is not None and run.registers is not None
            where = _where(index, run.source, run.first_point)
            try:
                angles = run.template.slot_values(run.values)
            except CircuitValidationError as exc:
                raise _refused(exc, where) from None
            for row in angles:
                circuit, data = run.template.bind(row)
                circuits.append(circuit)
                encoded.append(data)
                registers.append(run.registers)
            index += run.size
            continue
        assert run.circuit is not None
        where = _where(index, run.source, None)
        circuit = _transpiled(run.circuit, settings, where)
        try:
            wire = circuit_to_wire(circuit, settings.qubit_names)
            validate_job(CircuitJobDefinition((wire,), settings.parameters), settings.dqa, error=CircuitValidationError)
        except (CircuitValidationError, ValueError) as exc:
            raise _refused(exc, where) from None
        circuits.append(wire)
        encoded.append(canonical_circuit_json(wire))
        registers.append(registers_of(circuit))
        index += 1
    parts = _cut(task.start, circuits, encoded, registers, settings.max_body_bytes)
    if shipped:
        for part in parts:
            part.circuits = ()  # rebuilt from ``encoded`` by the receiver
    return parts


def circuit_from_canonical(encoded: bytes) -> Circuit:
    """Rebuild a wire circuit from the canonical JSON this module wrote (trusted: no validation again)."""
    data = json.loads(encoded)
    instructions = tuple(
        Instruction(i["name"], tuple(i["locus"]), i["args"], i["implementation"]) for i in data["instructions"]
    )
    return Circuit(data["name"], instructions, data["metadata"])


def _cut(
    start: int,
    circuits: Sequence[Circuit],
    encoded: list[bytes],
    registers: list[list[tuple[str, int]]],
    limit: int,
) -> list[Part]:
    """Split items into parts whose bodies stay under ``limit`` (halving, as a too-large job would be)."""
    if len(circuits) > 1 and sum(len(e) for e in encoded) > limit:
        mid = len(circuits) // 2
        return [
            *_cut(start, circuits[:mid], encoded[:mid], registers[:mid], limit),
            *_cut(start + mid, circuits[mid:], encoded[mid:], registers[mid:], limit),
        ]
    return [Part(start, start + len(circuits), tuple(circuits), encoded, registers)]
