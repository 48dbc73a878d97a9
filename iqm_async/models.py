"""Wire models of the IQM Server API v1 and their JSON mapping, shared by the client and the server.

The client parses replies with the ``from_json`` class methods; a reply that does not fit raises
:class:`~iqm_async.errors.MalformedResponseError` (never a bare ``KeyError``/``TypeError``). The
server parses job definitions with :meth:`CircuitJobDefinition.from_json`, which raises
:class:`~iqm_async.errors.ValidationError` with a message fit for a 422. Unknown fields are ignored
and missing optional fields take their documented defaults (docs/protocol.md#error-bodies-and-error-classes).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from .errors import MalformedResponseError, ValidationError


def parse_uuid(value: object) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or None if it is not one.

    The error is raised by the caller outside any ``except`` block on purpose: a ``ValueError`` from
    :class:`uuid.UUID` chained as the context keeps a half-built UUID in its frame, and a traceback
    rendered with locals (``pytest -l``, error reporters) fails on that object's ``repr``.
    """
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "JOB_OPTION_NAMES",
    "KNOWN_STATUSES",
    "Circuit",
    "CircuitJobDefinition",
    "DynamicQuantumArchitecture",
    "ErrorBody",
    "GateInfo",
    "Instruction",
    "JobData",
    "JobParameters",
    "QuantumComputer",
    "StaticQuantumArchitecture",
    "TimelineEntry",
    "parse_measurement_key",
]

JobStatusStr = Literal["waiting", "processing", "completed", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"waiting", "processing"})
KNOWN_STATUSES: frozenset[str] = FINAL_STATUSES | ACTIVE_STATUSES

HeraldingMode = Literal["none", "zeros"]
MoveGateValidation = Literal["strict", "allow_prx", "none"]
MoveGateFrameTracking = Literal["full", "no_detuning_correction", "none"]
DDMode = Literal["disabled", "enabled"]

HERALDING_MODES = ("none", "zeros")
MOVE_VALIDATION_MODES = ("strict", "allow_prx", "none")
FRAME_TRACKING_MODES = ("full", "no_detuning_correction", "none")
DD_MODES = ("disabled", "enabled")

T = TypeVar("T")


class _Reader:
    """Typed field access over a JSON object that raises one chosen error class with a path."""

    def __init__(self, obj: object, where: str, error: type[Exception]):
        if not isinstance(obj, dict):
            raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.obj: dict[str, Any] = obj
        self.where = where
        self.error = error

    def fail(self, key: str, expected: str) -> Exception:
        got = self.obj.get(key, None)
        return self.error(f"{self.where}.{key}: expected {expected}, got {_short(got)}")

    def has(self, key: str) -> bool:
        return key in self.obj and self.obj[key] is not None

    def str_(self, key: str, default: str | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "a string")
        value = self.obj[key]
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def int_(self, key: str, default: int | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "an integer")
        value = self.obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer")
        return value

    def float_(self, key: str, default: float | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "a number")
        value = self.obj[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, "a finite number")
        return float(value)

    def list_(self, key: str, *, optional: bool = False) -> list[Any]:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return []
            raise self.fail(key, "an array")
        value = self.obj[key]
        if not isinstance(value, list):
            raise self.fail(key, "an array")
        return value

    def dict_(self, key: str, *, optional: bool = False) -> dict[str, Any] | None:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return None
            raise self.fail(key, "an object")
        value = self.obj[key]
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.str_(key, default, optional=True)
        if value not in choices:
            raise self.error(f"{self.where}.{key}: expected one of {list(choices)}, got {_short(value)}")
        return str(value)

    def uuid_(self, key: str, *, optional: bool = False) -> str | None:
        value = self.str_(key, None, optional=optional)
        if value is None:
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            raise self.fail(key, "a UUID")
        return str(parsed)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _str_list(items: object, where: str, error: type[Exception]) -> tuple[str, ...]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise error(f"{where}: expected an array of strings, got {_short(items)}")
    return tuple(items)


# --------------------------------------------------------------------------------------------------
# Errors, quantum computers, architectures
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The body of every non-2xx reply, and of each entry of a failed job's ``errors``."""

    message: str
    error_code: str | None = None
    source: str = "iqm-server"

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this error body."""
        return {"message": self.message, "error_code": self.error_code, "source": self.source}

    @classmethod
    def from_json(cls, obj: object, where: str = "error") -> ErrorBody:
        """Parse an error body, accepting the legacy ``detail`` in place of ``message``."""
        r = _Reader(obj, where, MalformedResponseError)
        message = r.obj.get("message", r.obj.get("detail"))
        if not isinstance(message, str):
            message = "" if message is None else str(message)
        code = r.obj.get("error_code")
        source = r.obj.get("source")
        return cls(
            message=message,
            error_code=code if isinstance(code, str) else None,
            source=source if isinstance(source, str) else "iqm-server",
        )


@dataclass(frozen=True)
class QuantumComputer:
    """One entry of ``GET /quantum-computers``."""

    id: str
    alias: str
    display_name: str
    proxy_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this entry."""
        return {
            "id": self.id,
            "alias": self.alias,
            "display_name": self.display_name,
            "proxy_path": self.proxy_path,
        }

    @classmethod
    def list_from_json(cls, obj: object) -> list[QuantumComputer]:
        """Parse the body of ``GET /quantum-computers``."""
        r = _Reader(obj, "quantum_computers", MalformedResponseError)
        out = []
        for i, item in enumerate(r.list_("quantum_computers")):
            e = _Reader(item, f"quantum_computers[{i}]", MalformedResponseError)
            out.append(
                cls(
                    id=e.str_("id"),
                    alias=e.str_("alias"),
                    display_name=e.str_("display_name", optional=True, default=e.obj.get("alias", "")),
                    proxy_path=e.str_("proxy_path", optional=True),
                )
            )
        return out


Locus = tuple[str, ...]


@dataclass(frozen=True)
class GateInfo:
    """One gate of a dynamic quantum architecture: its implementations and their loci."""

    implementations: Mapping[str, tuple[Locus, ...]]
    default_implementation: str
    override_default_implementation: Mapping[str, str] = field(default_factory=dict)

    @property
    def loci(self) -> tuple[Locus, ...]:
        """All loci of the gate (the union over implementations), in first-seen order."""
        seen: dict[Locus, None] = {}
        for loci in self.implementations.values():
            for locus in loci:
                seen.setdefault(locus, None)
        return tuple(seen)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this gate."""
        return {
            "implementations": {
                name: {"loci": [list(locus) for locus in loci]} for name, loci in self.implementations.items()
            },
            "default_implementation": self.default_implementation,
            "override_default_implementation": dict(self.override_default_implementation),
        }


@dataclass(frozen=True)
class DynamicQuantumArchitecture:
    """What is calibrated now: qubits, resonators and the loci of each gate (docs/protocol.md)."""

    calibration_set_id: str
    qubits: tuple[str, ...]
    computational_resonators: tuple[str, ...]
    gates: Mapping[str, GateInfo]

    @property
    def components(self) -> tuple[str, ...]:
        """Qubits followed by computational resonators."""
        return self.qubits + self.computational_resonators

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this architecture."""
        return {
            "calibration_set_id": self.calibration_set_id,
            "qubits": list(self.qubits),
            "computational_resonators": list(self.computational_resonators),
            "gates": {name: g.to_json() for name, g in self.gates.items()},
        }

    @classmethod
    def from_json(cls, obj: object) -> DynamicQuantumArchitecture:
        """Parse the body of the DQA endpoint."""
        err = MalformedResponseError
        r = _Reader(obj, "dqa", err)
        gates: dict[str, GateInfo] = {}
        for name, g in (r.dict_("gates") or {}).items():
            gr = _Reader(g, f"dqa.gates.{name}", err)
            impls: dict[str, tuple[Locus, ...]] = {}
            for impl_name, impl in (gr.dict_("implementations") or {}).items():
                ir = _Reader(impl, f"dqa.gates.{name}.implementations.{impl_name}", err)
                impls[impl_name] = tuple(
                    _str_list(locus, f"{ir.where}.loci[{i}]", err) for i, locus in enumerate(ir.list_("loci"))
                )
            override = gr.dict_("override_default_implementation", optional=True) or {}
            gates[name] = GateInfo(
                implementations=impls,
                default_implementation=gr.str_("default_implementation", optional=True, default=next(iter(impls), "")),
                override_default_implementation={str(k): str(v) for k, v in override.items()},
            )
        return cls(
            calibration_set_id=r.uuid_("calibration_set_id") or "",
            qubits=_str_list(r.list_("qubits"), "dqa.qubits", err),
            computational_resonators=_str_list(
                r.list_("computational_resonators", optional=True), "dqa.computational_resonators", err
            ),
            gates=gates,
        )


@dataclass(frozen=True)
class StaticQuantumArchitecture:
    """The chip layout (docs/protocol.md#static-architecture)."""

    qubits: tuple[str, ...]
    computational_resonators: tuple[str, ...]
    connectivity: tuple[Locus, ...]
    dut_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this architecture (the server sends a list of one)."""
        return {
            "dut_label": self.dut_label,
            "qubits": list(self.qubits),
            "computational_resonators": list(self.computational_resonators),
            "connectivity": [list(c) for c in self.connectivity],
        }

    @classmethod
    def from_json(cls, obj: object) -> StaticQuantumArchitecture:
        """Parse the body of the SQA endpoint (a list of one element)."""
        err = MalformedResponseError
        if isinstance(obj, list):
            if not obj:
                raise err("sqa: expected a list with one element, got an empty list")
            obj = obj[0]
        r = _Reader(obj, "sqa", err)
        return cls(
            qubits=_str_list(r.list_("qubits"), "sqa.qubits", err),
            computational_resonators=_str_list(
                r.list_("computational_resonators", optional=True), "sqa.computational_resonators", err
            ),
            connectivity=tuple(
                _str_list(c, f"sqa.connectivity[{i}]", err) for i, c in enumerate(r.list_("connectivity"))
            ),
            dut_label=r.str_("dut_label", optional=True),
        )


# --------------------------------------------------------------------------------------------------
# Circuits and job definitions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruction:
    """One native instruction of a wire circuit."""

    name: str
    locus: tuple[str, ...]
    args: Mapping[str, Any] = field(default_factory=dict)
    implementation: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this instruction."""
        return {
            "name": self.name,
            "locus": list(self.locus),
            "args": dict(self.args),
            "implementation": self.implementation,
        }

    @classmethod
    def from_json(cls, obj: object, where: str, error: type[Exception] = ValidationError) -> Instruction:
        """Parse an instruction (used by the server and for E6 payloads)."""
        r = _Reader(obj, where, error)
        locus_raw = r.obj.get("locus", r.obj.get("qubits"))
        return cls(
            name=r.str_("name"),
            locus=_str_list(locus_raw, f"{where}.locus", error),
            args=r.dict_("args", optional=True) or {},
            implementation=r.str_("implementation", optional=True),
        )


@dataclass(frozen=True, slots=True)
class Circuit:
    """A named list of native instructions, with the user's metadata."""

    name: str
    instructions: tuple[Instruction, ...]
    metadata: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this circuit."""
        return {
            "name": self.name,
            "instructions": [i.to_json() for i in self.instructions],
            "metadata": None if self.metadata is None else dict(self.metadata),
        }

    @classmethod
    def from_json(cls, obj: object, where: str, error: type[Exception] = ValidationError) -> Circuit:
        """Parse a circuit."""
        r = _Reader(obj, where, error)
        return cls(
            name=r.str_("name"),
            instructions=tuple(
                Instruction.from_json(i, f"{where}.instructions[{n}]", error)
                for n, i in enumerate(r.list_("instructions"))
            ),
            metadata=r.dict_("metadata", optional=True),
        )

    def measurement_keys(self) -> list[str]:
        """Keys of the circuit's ``measure`` instructions in the order they first appear."""
        seen: dict[str, None] = {}
        for inst in self.instructions:
            if inst.name == "measure":
                key = inst.args.get("key")
                if isinstance(key, str):
                    seen.setdefault(key, None)
        return list(seen)


@dataclass(frozen=True)
class JobParameters:
    """The options of a circuit job other than the circuits (docs/protocol.md#submitting-a-job)."""

    shots: int = 1
    calibration_set_id: str | None = None
    qubit_mapping: Mapping[str, str] | None = None
    max_circuit_duration_over_t2: float | None = None
    heralding_mode: HeraldingMode = "none"
    move_gate_validation: MoveGateValidation = "strict"
    move_gate_frame_tracking: MoveGateFrameTracking = "full"
    active_reset_cycles: int | None = None
    dd_mode: DDMode = "disabled"
    dd_strategy: Mapping[str, Any] | None = None

    def check(self, error: type[Exception] = ValidationError) -> None:
        """Raise ``error`` when the options break docs/protocol.md#validation-rules rule 10."""
        if isinstance(self.shots, bool) or not isinstance(self.shots, int) or self.shots <= 0:
            raise error(f"shots must be a positive integer, got {self.shots!r}")
        for name, value, choices in (
            ("heralding_mode", self.heralding_mode, HERALDING_MODES),
            ("move_gate_validation", self.move_gate_validation, MOVE_VALIDATION_MODES),
            ("move_gate_frame_tracking", self.move_gate_frame_tracking, FRAME_TRACKING_MODES),
            ("dd_mode", self.dd_mode, DD_MODES),
        ):
            if value not in choices:
                raise error(f"{name} must be one of {list(choices)}, got {value!r}")
        if self.move_gate_frame_tracking == "full" and self.move_gate_validation == "none":
            raise error("move_gate_frame_tracking='full' requires move_gate_validation 'strict' or 'allow_prx'")
        if self.calibration_set_id is not None and parse_uuid(self.calibration_set_id) is None:
            raise error(f"calibration_set_id must be a UUID, got {self.calibration_set_id!r}")
        if self.max_circuit_duration_over_t2 is not None and not (
            isinstance(self.max_circuit_duration_over_t2, (int, float))
            and not isinstance(self.max_circuit_duration_over_t2, bool)
            and math.isfinite(self.max_circuit_duration_over_t2)
            and self.max_circuit_duration_over_t2 >= 0
        ):
            raise error("max_circuit_duration_over_t2 must be a non-negative number or None")
        if self.active_reset_cycles is not None and (
            isinstance(self.active_reset_cycles, bool) or not isinstance(self.active_reset_cycles, int)
        ):
            raise error(f"active_reset_cycles must be an integer or None, got {self.active_reset_cycles!r}")
        if self.dd_strategy is not None and not isinstance(self.dd_strategy, Mapping):
            raise error(f"dd_strategy must be an object or None, got {type(self.dd_strategy).__name__}")
        if self.qubit_mapping is not None and not (
            isinstance(self.qubit_mapping, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in self.qubit_mapping.items())
        ):
            raise error("qubit_mapping must map logical qubit names (str) to physical names (str)")

    def to_json(self) -> dict[str, Any]:
        """Return the option fields of the submit body, deprecated copies included (docs/protocol.md client rule)."""
        mapping = (
            None
            if self.qubit_mapping is None
            else [{"logical_name": k, "physical_name": v} for k, v in self.qubit_mapping.items()]
        )
        return {
            "calibration_set_id": self.calibration_set_id,
            "qubit_mapping": mapping,
            "shots": self.shots,
            "max_circuit_duration_over_t2": self.max_circuit_duration_over_t2,
            "heralding_mode": self.heralding_mode,
            "move_gate_validation": self.move_gate_validation,
            "move_gate_frame_tracking": self.move_gate_frame_tracking,
            "active_reset_cycles": self.active_reset_cycles,
            "dd_mode": self.dd_mode,
            "dd_strategy": None if self.dd_strategy is None else dict(self.dd_strategy),
            "move_validation_mode": self.move_gate_validation,
            "move_gate_frame_tracking_mode": self.move_gate_frame_tracking,
        }

    def to_result_json(self) -> dict[str, Any]:
        """Return the ``parameters`` block of a Qiskit result (docs/protocol.md#the-qiskit-result)."""
        return {
            "shots": self.shots,
            "calibration_set_id": None if self.calibration_set_id is None else uuid.UUID(self.calibration_set_id),
            "qubit_mapping": None if self.qubit_mapping is None else dict(self.qubit_mapping),
            "max_circuit_duration_over_t2": self.max_circuit_duration_over_t2,
            "heralding_mode": self.heralding_mode,
            "move_gate_validation": self.move_gate_validation,
            "move_gate_frame_tracking": self.move_gate_frame_tracking,
            "active_reset_cycles": self.active_reset_cycles,
            "dd_mode": self.dd_mode,
            "dd_strategy": None if self.dd_strategy is None else dict(self.dd_strategy),
        }

    @classmethod
    def from_json(cls, obj: object, error: type[Exception] = ValidationError) -> JobParameters:
        """Parse the option fields of a submit body, accepting both names of the aliased fields."""
        r = _Reader(obj, "job", error)
        data = dict(r.obj)
        # The new name wins when both are present (docs/protocol.md#submitting-a-job server rule).
        if data.get("move_gate_validation") is None and data.get("move_validation_mode") is not None:
            data["move_gate_validation"] = data["move_validation_mode"]
        if data.get("move_gate_frame_tracking") is None and data.get("move_gate_frame_tracking_mode") is not None:
            data["move_gate_frame_tracking"] = data["move_gate_frame_tracking_mode"]
        r = _Reader(data, "job", error)
        mapping: dict[str, str] | None = None
        if r.has("qubit_mapping"):
            mapping = {}
            for i, m in enumerate(r.list_("qubit_mapping")):
                mr = _Reader(m, f"job.qubit_mapping[{i}]", error)
                mapping[mr.str_("logical_name")] = mr.str_("physical_name")
        params = cls(
            shots=r.int_("shots", 1, optional=True),
            calibration_set_id=r.uuid_("calibration_set_id", optional=True),
            qubit_mapping=mapping,
            max_circuit_duration_over_t2=r.float_("max_circuit_duration_over_t2", optional=True),
            heralding_mode=r.choice("heralding_mode", HERALDING_MODES, "none"),  # type: ignore[arg-type]
            move_gate_validation=r.choice(  # type: ignore[arg-type]
                "move_gate_validation", MOVE_VALIDATION_MODES, "strict"
            ),
            move_gate_frame_tracking=r.choice(  # type: ignore[arg-type]
                "move_gate_frame_tracking", FRAME_TRACKING_MODES, "full"
            ),
            active_reset_cycles=r.int_("active_reset_cycles", optional=True),
            dd_mode=r.choice("dd_mode", DD_MODES, "disabled"),  # type: ignore[arg-type]
            dd_strategy=r.dict_("dd_strategy", optional=True),
        )
        params.check(error)
        return params


JOB_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(JobParameters) if f.name != "shots")
"""Names of the job options of docs/protocol.md#submitting-a-job besides ``shots``, as accepted by submit."""


@dataclass(frozen=True)
class CircuitJobDefinition:
    """The body of a circuit-job submit: circuits plus parameters (docs/protocol.md#submitting-a-job)."""

    circuits: tuple[Circuit, ...]
    parameters: JobParameters = field(default_factory=JobParameters)

    def to_json(self) -> dict[str, Any]:
        """Return the complete submit body, every field included."""
        body: dict[str, Any] = {"circuits": [c.to_json() for c in self.circuits]}
        body.update(self.parameters.to_json())
        return body

    @classmethod
    def from_json(cls, obj: object, error: type[Exception] = ValidationError) -> CircuitJobDefinition:
        """Parse a submit body (server side) or an E6 payload (client side, with another ``error``)."""
        r = _Reader(obj, "job", error)
        circuits = r.list_("circuits")
        if not circuits:
            raise error("job.circuits: the batch must contain at least one circuit")
        return cls(
            circuits=tuple(Circuit.from_json(c, f"job.circuits[{i}]", error) for i, c in enumerate(circuits)),
            parameters=JobParameters.from_json(obj, error),
        )


# --------------------------------------------------------------------------------------------------
# Job data (status polling)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step a job has reached."""

    source: str
    status: str
    timestamp: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this entry."""
        return {"source": self.source, "status": self.status, "timestamp": _iso(self.timestamp)}

    def to_result_json(self) -> dict[str, Any]:
        """Return the entry as stored in a Qiskit result's ``timeline`` (timestamp as a datetime)."""
        return {"source": self.source, "status": self.status, "timestamp": self.timestamp}


def _iso(ts: datetime) -> str:
    text = ts.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected an ISO-8601 timestamp, got {_short(value)}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise MalformedResponseError(f"{where}: expected an ISO-8601 timestamp, got {_short(value)}") from None


@dataclass(frozen=True)
class JobData:
    """Status and metadata of a job: the body of ``GET /jobs/{id}`` (docs/protocol.md#job-status).

    ``status`` keeps the server's string as sent; an unknown string is treated as not final (docs/protocol.md).
    """

    id: str
    status: str
    type: str = "circuit"
    execution_progress: Mapping[str, tuple[int, int]] | None = None
    calibration_set_id: str | None = None
    has_compilation: bool = False
    messages: tuple[Mapping[str, str], ...] = ()
    errors: tuple[ErrorBody, ...] = ()
    queue_position: int | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    artifacts: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        """True once the job is ``completed``, ``failed`` or ``cancelled``; such a job never changes."""
        return self.status in FINAL_STATUSES

    @property
    def progress(self) -> tuple[int, int] | None:
        """Circuits done and in all, when the server reports it."""
        if not self.execution_progress:
            return None
        if "circuits" in self.execution_progress:
            return self.execution_progress["circuits"]
        return next(iter(self.execution_progress.values()))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this job."""
        execution = (
            None
            if self.execution_progress is None
            else {
                "progress": {label: {"value": v, "max_value": m} for label, (v, m) in self.execution_progress.items()}
            }
        )
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "execution": execution,
            "compilation": {"calibration_set_id": self.calibration_set_id} if self.has_compilation else None,
            "messages": [dict(m) for m in self.messages],
            "errors": [e.to_json() for e in self.errors],
            "queue_position": self.queue_position,
            "timeline": [t.to_json() for t in self.timeline],
            "artifacts": [{"type": a} for a in self.artifacts],
        }

    @classmethod
    def from_json(cls, obj: object) -> JobData:
        """Parse JobData, tolerating unknown statuses, fields, timeline steps and artifact types."""
        err = MalformedResponseError
        r = _Reader(obj, "job", err)
        job_id = r.str_("id")
        progress: dict[str, tuple[int, int]] | None = None
        execution = r.dict_("execution", optional=True)
        if execution is not None:
            raw_progress = execution.get("progress")
            if isinstance(raw_progress, dict):
                progress = {}
                for label, p in raw_progress.items():
                    pr = _Reader(p, f"job.execution.progress.{label}", err)
                    progress[str(label)] = (pr.int_("value"), pr.int_("max_value"))
        compilation = r.dict_("compilation", optional=True)
        calset: str | None = None
        if compilation is not None:
            calset = _Reader(compilation, "job.compilation", err).uuid_("calibration_set_id", optional=True)
        messages = []
        for i, m in enumerate(r.list_("messages", optional=True)):
            mr = _Reader(m, f"job.messages[{i}]", err)
            messages.append({"source": mr.str_("source", "", optional=True), "message": mr.str_("message")})
        timeline = []
        for i, t in enumerate(r.list_("timeline", optional=True)):
            tr = _Reader(t, f"job.timeline[{i}]", err)
            timeline.append(
                TimelineEntry(
                    source=tr.str_("source", "", optional=True),
                    status=tr.str_("status"),
                    timestamp=_parse_timestamp(tr.obj.get("timestamp"), f"job.timeline[{i}].timestamp"),
                )
            )
        artifacts = []
        for i, a in enumerate(r.list_("artifacts", optional=True)):
            artifacts.append(_Reader(a, f"job.artifacts[{i}]", err).str_("type"))
        qpos = r.int_("queue_position", optional=True)
        return cls(
            id=job_id,
            status=r.str_("status"),
            type=r.str_("type", "circuit", optional=True),
            execution_progress=progress,
            calibration_set_id=calset,
            has_compilation=compilation is not None,
            messages=tuple(messages),
            errors=tuple(
                ErrorBody.from_json(e, f"job.errors[{i}]") for i, e in enumerate(r.list_("errors", optional=True))
            ),
            queue_position=qpos,
            timeline=tuple(timeline),
            artifacts=tuple(artifacts),
        )


def parse_measurement_key(key: str) -> tuple[str, int, int, int]:
    """Split ``<creg name>_<creg size>_<creg index>_<clbit index>`` into its four parts (docs/protocol.md).

    Raises:
        ValueError: if the key does not end in three ``_``-separated decimal integers.
    """
    parts = key.rsplit("_", 3)
    if len(parts) != 4 or not all(p.isdecimal() for p in parts[1:]):
        raise ValueError(f"measurement key {key!r} is not of the form <creg name>_<size>_<index>_<clbit>")
    name, size, index, clbit = parts
    size_i, index_i, clbit_i = int(size), int(index), int(clbit)
    if clbit_i >= size_i:
        raise ValueError(f"measurement key {key!r}: clbit index {clbit_i} is outside a register of size {size_i}")
    return name, size_i, index_i, clbit_i
