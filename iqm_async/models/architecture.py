"""Quantum computers, architectures and error bodies as the server sends them (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MalformedResponseError
from ._reader import _Reader, _str_list

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
