"""Calibration sets and quality metrics: IQM's observation-set wire models and a per-component view of them.

IQM Server serves a calibration set (``GET /api/v1/calibration-sets/{qc}/{id}``) and its quality
metric set (``…/{id}/metrics``) as observation sets: lists of named observations such as
``characterization.model.QB1.t1_time`` or ``metrics.irb.cz.tgss.QB1__QB2.fidelity``
(docs/protocol.md#calibration-sets-and-quality-metrics). :class:`ObservationSet` is one such set on the
wire; :class:`CalibrationMetrics` reads both sets into per-qubit and per-locus numbers (T1, T2,
gate fidelities and durations, readout errors) and writes them back. No Qiskit here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import MalformedResponseError

__all__ = [
    "CALIBRATION_SET",
    "FIDELITY_METHODS",
    "QUALITY_METRIC_SET",
    "CalibrationMetrics",
    "Observation",
    "ObservationSet",
    "locus_str",
]

CALIBRATION_SET = "calibration-set"
"""``observation_set_type`` of a calibration set."""
QUALITY_METRIC_SET = "quality-metric-set"
"""``observation_set_type`` of a quality metric set."""

FIDELITY_METHODS: Mapping[str, str] = {"prx": "rb", "measure": "ssro"}
"""Benchmark that IQM names a gate's fidelity after; every other gate uses ``irb`` (interleaved RB)."""

DEFAULT_IMPLEMENTATIONS: Mapping[str, str] = {
    "prx": "drag_gaussian",
    "cc_prx": "prx_composite",
    "cz": "tgss",
    "move": "tgss_crf",
    "measure": "constant",
}
"""Implementation names used when a gate's implementation is not known from a DQA."""

Locus = tuple[str, ...]
Number = float | int


def locus_str(locus: Iterable[str]) -> str:
    """Return IQM's locus string: component names joined by ``__`` (``QB1__QB2``)."""
    return "__".join(locus)


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _timestamp(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected an ISO timestamp, got {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedResponseError(f"{where}: expected an ISO timestamp, got {value!r}") from None


@dataclass(frozen=True)
class Observation:
    """One named value of an observation set (IQM's ``ObservationLite`` on the wire)."""

    dut_field: str
    """Dotted name, e.g. ``characterization.model.QB1.t1_time``."""
    value: Any
    """The value (a number for every observation this package reads)."""
    unit: str = ""
    """SI unit; empty for dimensionless values."""
    uncertainty: float | None = None
    invalid: bool = False
    observation_id: int = 0
    created_timestamp: datetime | None = None
    modified_timestamp: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the wire object."""
        created = self.created_timestamp or datetime(1970, 1, 1, tzinfo=timezone.utc)
        return {
            "observation_id": self.observation_id,
            "dut_field": self.dut_field,
            "value": self.value,
            "unit": self.unit,
            "uncertainty": self.uncertainty,
            "invalid": self.invalid,
            "created_timestamp": _iso(created),
            "modified_timestamp": _iso(self.modified_timestamp or created),
        }

    @classmethod
    def from_json(cls, obj: object, where: str = "observation") -> Observation:
        """Parse a wire object (extra fields, e.g. IQM's full ``ObservationData``, are ignored)."""
        if not isinstance(obj, dict):
            raise MalformedResponseError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        name = obj.get("dut_field")
        if not isinstance(name, str) or not name:
            raise MalformedResponseError(f"{where}.dut_field: expected a non-empty string, got {name!r}")
        unit = obj.get("unit", "")
        uncertainty = obj.get("uncertainty")
        return cls(
            dut_field=name,
            value=obj.get("value"),
            unit=unit if isinstance(unit, str) else "",
            uncertainty=float(uncertainty) if isinstance(uncertainty, (int, float)) else None,
            invalid=bool(obj.get("invalid", False)),
            observation_id=int(obj.get("observation_id", 0) or 0),
            created_timestamp=_timestamp(obj.get("created_timestamp"), f"{where}.created_timestamp"),
            modified_timestamp=_timestamp(obj.get("modified_timestamp"), f"{where}.modified_timestamp"),
        )


@dataclass(frozen=True)
class ObservationSet:
    """A calibration set or a quality metric set as IQM Server serves it."""

    observation_set_id: str
    observation_set_type: str
    """:data:`CALIBRATION_SET` or :data:`QUALITY_METRIC_SET`."""
    observations: tuple[Observation, ...]
    dut_label: str | None = None
    describes_id: str | None = None
    """For a quality metric set: the calibration set it describes."""
    invalid: bool = False
    created_timestamp: datetime | None = None
    end_timestamp: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the wire object."""
        created = self.created_timestamp or datetime(1970, 1, 1, tzinfo=timezone.utc)
        return {
            "observation_set_id": self.observation_set_id,
            "observation_set_type": self.observation_set_type,
            "describes_id": self.describes_id,
            "invalid": self.invalid,
            "dut_label": self.dut_label,
            "created_timestamp": _iso(created),
            "end_timestamp": _iso(self.end_timestamp or created),
            "observations": [o.to_json() for o in self.observations],
        }

    @classmethod
    def from_json(cls, obj: object, where: str = "observation set") -> ObservationSet:
        """Parse a wire object; raise :class:`~iqm_async.errors.MalformedResponseError` when it does not fit."""
        if not isinstance(obj, dict):
            raise MalformedResponseError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        set_id = obj.get("observation_set_id")
        if not isinstance(set_id, str):
            raise MalformedResponseError(f"{where}.observation_set_id: expected a string, got {set_id!r}")
        items = obj.get("observations", [])
        if not isinstance(items, list):
            raise MalformedResponseError(f"{where}.observations: expected a list, got {type(items).__name__}")
        describes = obj.get("describes_id")
        label = obj.get("dut_label")
        return cls(
            observation_set_id=set_id,
            observation_set_type=str(obj.get("observation_set_type", "")),
            observations=tuple(Observation.from_json(o, f"{where}.observations[{i}]") for i, o in enumerate(items)),
            dut_label=label if isinstance(label, str) else None,
            describes_id=describes if isinstance(describes, str) else None,
            invalid=bool(obj.get("invalid", False)),
            created_timestamp=_timestamp(obj.get("created_timestamp"), f"{where}.created_timestamp"),
            end_timestamp=_timestamp(obj.get("end_timestamp"), f"{where}.end_timestamp"),
        )

    def values(self) -> dict[str, Any]:
        """Return every valid observation's value by name."""
        return {o.dut_field: o.value for o in self.observations if not o.invalid}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class CalibrationMetrics:
    """The numbers of one calibration set and its quality metrics, per component and per locus.

    Times are in seconds (IQM's observations are SI), fidelities are average gate fidelities,
    and ``readout_errors[q]`` is ``(P(read 1 | was 0), P(read 0 | was 1))``.
    """

    calibration_set_id: str
    t1: Mapping[str, float] = field(default_factory=dict)
    """Energy relaxation time of each component, in s."""
    t2: Mapping[str, float] = field(default_factory=dict)
    """Dephasing (echo) time of each component, in s."""
    frequencies: Mapping[str, float] = field(default_factory=dict)
    """Drive frequency of each qubit, in Hz."""
    fidelities: Mapping[str, Mapping[Locus, float]] = field(default_factory=dict)
    """Average gate fidelity of each gate (``prx``, ``cz``, ``move``, ``measure``) on each locus."""
    durations: Mapping[str, Mapping[Locus, float]] = field(default_factory=dict)
    """Duration of each gate on each locus, in s."""
    readout_errors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """``(error_0_to_1, error_1_to_0)`` of each qubit's measurement."""
    implementations: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_IMPLEMENTATIONS))
    """Implementation the numbers are for, per gate."""
    dut_label: str | None = None

    def fidelity(self, gate: str, locus: Iterable[str]) -> float | None:
        """Return the gate's fidelity on ``locus`` (either order for two-component gates), or None."""
        return _lookup(self.fidelities, gate, tuple(locus))

    def error(self, gate: str, locus: Iterable[str]) -> float | None:
        """Return ``1 - fidelity`` of the gate on ``locus``, or None when unknown."""
        fid = self.fidelity(gate, locus)
        return None if fid is None else max(0.0, 1.0 - fid)

    def duration(self, gate: str, locus: Iterable[str]) -> float | None:
        """Return the gate's duration on ``locus`` in seconds (either order), or None."""
        return _lookup(self.durations, gate, tuple(locus))

    # ------------------------------------------------------------------ the wire

    def observations(self) -> tuple[list[Observation], list[Observation]]:
        """Return the observations of the calibration set and of the quality metric set, in IQM's names."""
        calibration: list[Observation] = []
        metrics: list[Observation] = []
        for qubit, hz in self.frequencies.items():
            calibration.append(Observation(f"controllers.{qubit}.drive.frequency", hz, "Hz"))
        for gate, by_locus in self.durations.items():
            impl = self.implementations.get(gate, DEFAULT_IMPLEMENTATIONS.get(gate, gate))
            for locus, seconds in by_locus.items():
                calibration.append(Observation(f"gates.{gate}.{impl}.{locus_str(locus)}.duration", seconds, "s"))
        for comp, seconds in self.t1.items():
            metrics.append(Observation(f"characterization.model.{comp}.t1_time", seconds, "s"))
        for comp, seconds in self.t2.items():
            metrics.append(Observation(f"characterization.model.{comp}.t2_time", seconds, "s"))
        for gate, by_locus in self.fidelities.items():
            impl = self.implementations.get(gate, DEFAULT_IMPLEMENTATIONS.get(gate, gate))
            method = FIDELITY_METHODS.get(gate, "irb")
            for locus, fid in by_locus.items():
                metrics.append(Observation(f"metrics.{method}.{gate}.{impl}.{locus_str(locus)}.fidelity", fid, ""))
        impl = self.implementations.get("measure", DEFAULT_IMPLEMENTATIONS["measure"])
        for qubit, (e01, e10) in self.readout_errors.items():
            base = f"metrics.ssro.measure.{impl}.{qubit}"
            metrics.append(Observation(f"{base}.error_0_to_1", e01, ""))
            metrics.append(Observation(f"{base}.error_1_to_0", e10, ""))
        numbered = [
            Observation(o.dut_field, o.value, o.unit, observation_id=i)
            for i, o in enumerate(calibration + metrics, start=1)
        ]
        return numbered[: len(calibration)], numbered[len(calibration) :]

    def to_sets(self, metrics_set_id: str, created: datetime | None = None) -> tuple[ObservationSet, ObservationSet]:
        """Return the calibration set and its quality metric set (whose id is ``metrics_set_id``) as served."""
        when = created or datetime.now(timezone.utc)
        calibration, metrics = self.observations()
        stamped_cal = tuple(_stamped(o, when) for o in calibration)
        stamped_met = tuple(_stamped(o, when) for o in metrics)
        return (
            ObservationSet(
                self.calibration_set_id, CALIBRATION_SET, stamped_cal, self.dut_label, None, False, when, when
            ),
            ObservationSet(
                metrics_set_id,
                QUALITY_METRIC_SET,
                stamped_met,
                self.dut_label,
                self.calibration_set_id,
                False,
                when,
                when,
            ),
        )

    @classmethod
    def from_sets(cls, *sets: ObservationSet, calibration_set_id: str | None = None) -> CalibrationMetrics:
        """Read a calibration set and/or its quality metric set into per-component numbers.

        Observations this package does not know are skipped, as are invalid ones.
        """
        cal_id = calibration_set_id
        label = None
        for s in sets:
            label = label or s.dut_label
            if cal_id is None:
                cal_id = s.describes_id if s.observation_set_type == QUALITY_METRIC_SET else s.observation_set_id
        return cls.from_observations(
            (o for s in sets for o in s.observations if not o.invalid), cal_id or "", dut_label=label
        )

    @classmethod
    def from_observations(
        cls, observations: Iterable[Observation], calibration_set_id: str, *, dut_label: str | None = None
    ) -> CalibrationMetrics:
        """Read observations (IQM's names) into per-component numbers; unknown names are skipped."""
        t1: dict[str, float] = {}
        t2: dict[str, float] = {}
        freqs: dict[str, float] = {}
        fids: dict[str, dict[Locus, float]] = {}
        durs: dict[str, dict[Locus, float]] = {}
        readout: dict[str, list[float]] = {}
        impls: dict[str, str] = dict(DEFAULT_IMPLEMENTATIONS)
        for obs in observations:
            value = _number(obs.value)
            if value is None:
                continue
            path = obs.dut_field.split(":", 1)[0].split(".")
            if path[:2] == ["characterization", "model"] and len(path) == 4 and path[3] in ("t1_time", "t2_time"):
                (t1 if path[3] == "t1_time" else t2)[path[2]] = value
            elif path[0] == "controllers" and len(path) == 4 and path[2:] == ["drive", "frequency"]:
                freqs[path[1]] = value
            elif path[0] == "gates" and len(path) == 5 and path[4] == "duration":
                impls[path[1]] = path[2]
                durs.setdefault(path[1], {})[tuple(path[3].split("__"))] = value
            elif path[0] == "metrics" and len(path) == 6:
                _, _method, gate, impl, locus, name = path
                impls[gate] = impl
                if name == "fidelity":
                    fids.setdefault(gate, {})[tuple(locus.split("__"))] = value
                elif gate == "measure" and name in ("error_0_to_1", "error_1_to_0"):
                    pair = readout.setdefault(locus, [math.nan, math.nan])
                    pair[0 if name == "error_0_to_1" else 1] = value
        errors = {q: (p[0], p[1]) for q, p in readout.items() if not any(math.isnan(x) for x in p)}
        return cls(calibration_set_id, t1, t2, freqs, fids, durs, errors, impls, dut_label)


def _stamped(obs: Observation, when: datetime) -> Observation:
    return Observation(obs.dut_field, obs.value, obs.unit, obs.uncertainty, obs.invalid, obs.observation_id, when, when)


def _lookup(table: Mapping[str, Mapping[Locus, float]], gate: str, locus: Locus) -> float | None:
    by_locus = table.get(gate)
    if not by_locus:
        return None
    value = by_locus.get(locus)
    if value is None and len(locus) == 2:
        value = by_locus.get((locus[1], locus[0]))
    return value
