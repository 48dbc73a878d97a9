"""Circuits, instructions, job parameters and job definitions: what a submit sends (docs/protocol.md)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..errors import ValidationError
from ._reader import _Reader, _str_list, parse_uuid

HeraldingMode = Literal["none", "zeros"]
MoveGateValidation = Literal["strict", "allow_prx", "none"]
MoveGateFrameTracking = Literal["full", "no_detuning_correction", "none"]
DDMode = Literal["disabled", "enabled"]

HERALDING_MODES = ("none", "zeros")
MOVE_VALIDATION_MODES = ("strict", "allow_prx", "none")
FRAME_TRACKING_MODES = ("full", "no_detuning_correction", "none")
DD_MODES = ("disabled", "enabled")

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
