"""Circuit compilation options with IQM's names, defaults and wire form (``CircuitCompilationOptions`` & co).

Defined once here, re-exported by the Qiskit facade::

    from iqm_sync_shim import CircuitCompilationOptions, DDMode, DDStrategy, HeraldingMode

    options = CircuitCompilationOptions(
        heralding_mode=HeraldingMode.ZEROS,
        dd_mode=DDMode.ENABLED,
        dd_strategy=DDStrategy(target_qubits=frozenset({"QB1", "QB2"}), gate_sequences=[(5, "YXYX", "asap")]),
    )
    backend.run(circuit, circuit_compilation_options=options)

The enums are ``str`` enums, so ``HeraldingMode.ZEROS == "zeros"`` and plain strings work wherever an
enum does. :func:`job_options_from` turns ours, IQM's own objects (duck-typed: anything with these
attribute names, pydantic models and dataclasses included) or a mapping into the job options of the
submit body, with sets serialised as sorted lists so that ``json.dumps`` never fails on them.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMPILATION_OPTION_NAMES",
    "STANDARD_DD_STRATEGY",
    "CircuitCompilationOptions",
    "DDMode",
    "DDStrategy",
    "HeraldingMode",
    "MoveGateFrameTrackingMode",
    "MoveGateValidationMode",
    "job_options_from",
    "to_wire",
]


class _StrEnum(str, enum.Enum):
    """A ``str`` enum whose ``str()`` is its value (as Python 3.11's ``StrEnum``, which 3.10 lacks)."""

    def __str__(self) -> str:
        return str(self.value)


class HeraldingMode(_StrEnum):
    """Heralding mode: ``zeros`` post-selects shots whose qubits measured 0 before the circuit (fewer shots return)."""

    NONE = "none"
    ZEROS = "zeros"


class MoveGateValidationMode(_StrEnum):
    """How strictly MOVE sandwiches are validated (star chips)."""

    STRICT = "strict"
    ALLOW_PRX = "allow_prx"
    NONE = "none"


class MoveGateFrameTrackingMode(_StrEnum):
    """How the qubit's reference frame is tracked through a MOVE sandwich (star chips)."""

    FULL = "full"
    NO_DETUNING_CORRECTION = "no_detuning_correction"
    NONE = "none"


class DDMode(_StrEnum):
    """Whether dynamical decoupling is applied during execution."""

    DISABLED = "disabled"
    ENABLED = "enabled"


PRXSequence = Sequence[tuple[float, float]]
"""A gate pattern written as ``(angle, phase)`` PRX arguments."""


@dataclass(frozen=True)
class DDStrategy:
    """A dynamical decoupling strategy, with IQM's fields and defaults.

    ``gate_sequences`` holds ``(ratio, pattern, align)`` triples: ``pattern`` is a string of ``X``/``Y``
    or a sequence of ``(angle, phase)`` tuples, ``align`` is ``asap``, ``center`` or ``alap``.
    ``target_qubits`` (None: every qubit) may be any iterable of names; it is kept as a frozenset and
    sent as a sorted list.
    """

    merge_contiguous_waits: bool = True
    target_qubits: frozenset[str] | None = None
    skip_leading_wait: bool = True
    skip_trailing_wait: bool = True
    gate_sequences: Sequence[tuple[int, str | PRXSequence, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.target_qubits is not None:
            if isinstance(self.target_qubits, str) or not isinstance(self.target_qubits, Iterable):
                raise ValueError(f"target_qubits must be a collection of qubit names, got {self.target_qubits!r}")
            object.__setattr__(self, "target_qubits", frozenset(self.target_qubits))
        for seq in self.gate_sequences:
            if not (isinstance(seq, (tuple, list)) and len(seq) == 3):
                raise ValueError(f"every gate sequence must be (ratio, pattern, align), got {seq!r}")

    def to_json(self) -> dict[str, Any]:
        """Return the wire form of docs/protocol.md#submitting-a-job (``target_qubits`` as a sorted list)."""
        out = to_wire(dataclasses.asdict(self))
        assert isinstance(out, dict)
        return out


STANDARD_DD_STRATEGY = DDStrategy(gate_sequences=[(9, "XYXYYXYX", "asap"), (5, "YXYX", "asap"), (2, "XX", "center")])
"""IQM's standard strategy: CPMG for short idle times, XY4 for medium and EDD for long ones."""


@dataclass(frozen=True)
class CircuitCompilationOptions:
    """Options for compiling circuits to pulses, with IQM's names and defaults.

    Raises:
        ValueError: ``move_gate_frame_tracking=FULL`` with ``move_gate_validation=NONE`` (as IQM's).
    """

    max_circuit_duration_over_t2: float | None = None
    """Refuse circuits longer than this multiple of the shortest T2; ``0.0``: no check, None: server default."""
    heralding_mode: HeraldingMode = HeraldingMode.NONE
    move_gate_validation: MoveGateValidationMode = MoveGateValidationMode.STRICT
    move_gate_frame_tracking: MoveGateFrameTrackingMode = MoveGateFrameTrackingMode.FULL
    active_reset_cycles: int | None = None
    """Active resets at the start of each circuit; None resets by waiting, below 1 does neither."""
    dd_mode: DDMode = DDMode.DISABLED
    dd_strategy: DDStrategy | None = None
    """None: the server's standard strategy."""

    def __post_init__(self) -> None:
        tracking = str(getattr(self.move_gate_frame_tracking, "value", self.move_gate_frame_tracking))
        validation = str(getattr(self.move_gate_validation, "value", self.move_gate_validation))
        if tracking == "full" and validation not in ("strict", "allow_prx"):
            raise ValueError(
                "Unable to perform full MOVE gate frame tracking if MOVE gate validation is not"
                ' "strict" or "allow_prx".'
            )

    def to_job_options(self) -> dict[str, Any]:
        """Return the job options of the submit body (plain JSON values)."""
        return job_options_from(self)


COMPILATION_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CircuitCompilationOptions))
"""The fields of :class:`CircuitCompilationOptions`, in order."""


def to_wire(value: Any) -> Any:
    """Turn enums, dataclasses, pydantic models, sets and tuples into plain JSON values (sets as sorted lists)."""
    if isinstance(value, enum.Enum):
        return to_wire(value.value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be sent as JSON")
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return to_wire(dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_wire({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((to_wire(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    raise ValueError(f"{type(value).__name__} value {value!r} cannot be sent as JSON")


def job_options_from(options: Any) -> dict[str, Any]:
    """Read compilation options (ours, IQM's, any object with those attributes, or a mapping) into job options.

    Fields that are missing are left out (the core fills in the defaults); ``None`` values are kept
    out too, which is the same as the default for every field that allows ``None``.
    """
    if options is None:
        return {}
    out: dict[str, Any] = {}
    for name in COMPILATION_OPTION_NAMES:
        value = options.get(name) if isinstance(options, Mapping) else getattr(options, name, None)
        if value is not None:
            out[name] = to_wire(value)
    return out
