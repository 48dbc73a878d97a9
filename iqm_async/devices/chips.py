"""One source of truth for chip shapes: qubit names, couplers and gate loci of IQM's published architectures.

Each :class:`ChipShape` holds what IQM publishes about a chip's layout (the static quantum
architecture, E3) and which loci its gates are calibrated on (the dynamic quantum architecture, E2).
The embedded server serves these shapes; fake backends can be built from the same objects. No
Qiskit here: only names and tuples, and the wire models of :mod:`iqm_async.models`.

Shapes (the crystal couplers are those of IQM's own fake backends for the same chips):

* ``garnet``: 20-qubit crystal ``QB1…QB20``, 30 couplers; CZ loci in the orientation IQM calibrates them.
* ``emerald``: 54-qubit crystal ``QB1…QB54``, 90 couplers.
* ``sirius``: 16+1 star, qubits ``QB1…QB16`` each coupled only to the computational resonator ``COMP_R``.
* ``deneb``: 6+1 star, qubits ``QB1…QB6`` each coupled only to the computational resonator ``CR1``.
* ``sim``: the generic simulator chip (near-square lattice, line or star of any size), built by
  :func:`generic_chip`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..models import DynamicQuantumArchitecture, GateInfo, StaticQuantumArchitecture

__all__ = ["CHIPS", "GENERIC_LAYOUTS", "ChipShape", "chip", "chip_names", "generic_chip"]

Pair = tuple[str, str]

_NAMESPACE = uuid.UUID("4f6e7c1a-2b0d-4d55-9a51-5d1c0e0f7a10")
"""Namespace of the fixed UUIDs of the named chips (quantum computer id, default calibration set)."""

GENERIC_LAYOUTS: tuple[str, ...] = ("square", "line", "star")


@dataclass(frozen=True)
class ChipShape:
    """The layout and calibrated gate loci of one chip."""

    name: str
    """Short name, used as the quantum computer alias (``garnet``)."""
    display_name: str
    """Human-readable name reported in E1."""
    qubits: tuple[str, ...]
    """Qubit names in the chip's order."""
    resonators: tuple[str, ...]
    """Computational resonators (star chips), empty for crystals."""
    connectivity: tuple[Pair, ...]
    """Couplers as the static quantum architecture lists them."""
    cz_loci: tuple[Pair, ...]
    """Loci of the calibrated CZ, each coupler once, in the order (and orientation) IQM lists them."""
    move_loci: tuple[Pair, ...] = ()
    """Loci ``(qubit, resonator)`` of the MOVE gate (star chips)."""
    dut_label: str = "M000-0000-0001"
    """Chip label reported in the static quantum architecture."""

    @property
    def components(self) -> tuple[str, ...]:
        """Qubits followed by resonators."""
        return self.qubits + self.resonators

    @property
    def is_star(self) -> bool:
        """True when qubits couple only through a computational resonator (MOVE)."""
        return bool(self.resonators)

    @property
    def qc_id(self) -> str:
        """Fixed UUID of the quantum computer with this shape."""
        return str(uuid.uuid5(_NAMESPACE, f"qc/{self.name}"))

    @property
    def calibration_set_id(self) -> str:
        """Fixed UUID of the default calibration set of this shape."""
        return str(uuid.uuid5(_NAMESPACE, f"calibration-set/{self.name}"))

    def gate_loci(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Return the calibrated loci of every gate: ``prx``, ``cc_prx``, ``cz``, ``measure`` and (stars) ``move``."""
        single = tuple((q,) for q in self.qubits)
        loci: dict[str, tuple[tuple[str, ...], ...]] = {
            "prx": single,
            "cc_prx": single,
            "cz": tuple(self.cz_loci),
            "measure": single,
        }
        if self.move_loci:
            loci["move"] = tuple(self.move_loci)
        return loci

    def dqa(self, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture:
        """Build the dynamic quantum architecture (E2) of this shape for one calibration set."""
        implementations = {"prx": "drag_gaussian", "cc_prx": "prx_composite", "measure": "constant"}
        implementations["cz"] = "tgss"
        implementations["move"] = "tgss_crf"
        gates = {
            name: GateInfo(implementations={implementations[name]: loci}, default_implementation=implementations[name])
            for name, loci in self.gate_loci().items()
        }
        return DynamicQuantumArchitecture(
            calibration_set_id=calibration_set_id or self.calibration_set_id,
            qubits=self.qubits,
            computational_resonators=self.resonators,
            gates=gates,
        )

    def sqa(self) -> StaticQuantumArchitecture:
        """Build the static quantum architecture (E3) of this shape."""
        return StaticQuantumArchitecture(
            qubits=self.qubits,
            computational_resonators=self.resonators,
            connectivity=self.connectivity,
            dut_label=self.dut_label,
        )


def _qb(n: int) -> tuple[str, ...]:
    return tuple(f"QB{i}" for i in range(1, n + 1))


def _pairs(text: str) -> tuple[Pair, ...]:
    """Parse ``"1-2 1-4 …"`` into ``(("QB1", "QB2"), ("QB1", "QB4"), …)``."""
    out = []
    for item in text.split():
        a, b = item.split("-")
        out.append((f"QB{a}", f"QB{b}"))
    return tuple(out)


# Garnet: the 20-qubit crystal. The SQA lists each coupler with the lower index first; the calibrated
# CZ loci keep the orientation of IQM's published calibration (e.g. QB8–QB3).
_GARNET_COUPLERS = _pairs(
    "1-2 1-4 2-5 3-4 3-8 4-5 4-9 5-6 5-10 6-7 6-11 7-12 8-9 8-13 9-10 9-14 10-11 10-15 11-12 11-16 "
    "12-17 13-14 14-15 14-18 15-16 15-19 16-17 16-20 18-19 19-20"
)
_GARNET_CZ = _pairs(
    "1-2 1-4 2-5 3-4 4-5 5-6 6-7 8-3 8-9 8-13 9-4 9-10 9-14 10-5 10-11 10-15 11-6 11-12 12-7 13-14 "
    "14-15 16-11 16-15 16-17 16-20 17-12 18-14 18-19 19-15 19-20"
)
# Emerald: the 54-qubit crystal.
_EMERALD_COUPLERS = _pairs(
    "1-2 1-5 2-6 3-4 3-9 4-5 4-10 5-6 5-11 6-7 6-12 7-13 8-9 8-16 9-10 9-17 10-11 10-18 11-12 11-19 "
    "12-13 12-20 13-14 13-21 14-22 15-16 15-23 16-17 16-24 17-18 17-25 18-19 18-26 19-20 19-27 20-21 "
    "20-28 21-22 21-29 22-30 23-24 24-25 24-32 25-26 25-33 26-27 26-34 27-28 27-35 28-29 28-36 29-30 "
    "29-37 30-31 30-38 31-39 32-33 32-40 33-34 33-41 34-35 34-42 35-36 35-43 36-37 36-44 37-38 37-45 "
    "38-39 38-46 40-41 41-42 41-47 42-43 42-48 43-44 43-49 44-45 44-50 45-46 45-51 47-48 48-49 48-52 "
    "49-50 49-53 50-51 50-54 52-53 53-54"
)


def _star(name: str, display_name: str, n: int, resonator: str, dut_label: str) -> ChipShape:
    qubits = _qb(n)
    loci = tuple((q, resonator) for q in qubits)
    return ChipShape(
        name=name,
        display_name=display_name,
        qubits=qubits,
        resonators=(resonator,),
        connectivity=tuple((resonator, q) for q in qubits),
        cz_loci=loci,
        move_loci=loci,
        dut_label=dut_label,
    )


CHIPS: Mapping[str, ChipShape] = {
    "garnet": ChipShape(
        name="garnet",
        display_name="Garnet-shaped crystal (20 qubits, simulated)",
        qubits=_qb(20),
        resonators=(),
        connectivity=_GARNET_COUPLERS,
        cz_loci=_GARNET_CZ,
        dut_label="M153_W0_P06_Z99",
    ),
    "emerald": ChipShape(
        name="emerald",
        display_name="Emerald-shaped crystal (54 qubits, simulated)",
        qubits=_qb(54),
        resonators=(),
        connectivity=_EMERALD_COUPLERS,
        cz_loci=_EMERALD_COUPLERS,
        dut_label="M213_W0_H03_Z99",
    ),
    "sirius": _star("sirius", "Sirius-shaped star (16+1, simulated)", 16, "COMP_R", "M196_W0_S16_Z99"),
    "deneb": _star("deneb", "Deneb-shaped star (6+1, simulated)", 6, "CR1", "M139_W0_N60_Z99"),
}
"""The named chip shapes, by name."""


def chip_names() -> tuple[str, ...]:
    """Return every chip name ``--chip`` accepts: the named shapes and ``sim``."""
    return (*CHIPS, "sim")


def chip(name: str) -> ChipShape:
    """Return the named chip shape (``garnet``, ``emerald``, ``sirius``, ``deneb``).

    Raises:
        ValueError: for an unknown name (``sim`` is built with :func:`generic_chip`).
    """
    try:
        return CHIPS[name]
    except KeyError:
        raise ValueError(f"unknown chip {name!r}; known chips: {list(chip_names())}") from None


def _grid_couplers(names: Sequence[str]) -> tuple[Pair, ...]:
    # Near-square: as many columns as the square root rounded up, rows filled in order (4 × 5 for 20).
    n = len(names)
    cols = max(1, math.ceil(math.sqrt(n)))
    pairs: list[Pair] = []
    for k in range(n):
        if (k % cols) + 1 < cols and k + 1 < n:
            pairs.append((names[k], names[k + 1]))
        if k + cols < n:
            pairs.append((names[k], names[k + cols]))
    return tuple(pairs)


def generic_chip(
    qubits: int, layout: str = "square", *, name: str = "sim", display_name: str = "", dut_label: str = ""
) -> ChipShape:
    """Build the generic simulator chip: ``QB1…QBn`` on a near-square lattice, a line, or a star around ``COMP_R``."""
    if layout not in GENERIC_LAYOUTS:
        raise ValueError(f"layout must be one of {list(GENERIC_LAYOUTS)}, got {layout!r}")
    names = _qb(qubits)
    shown, label = display_name or name, dut_label or "M000-0000-0001"
    if layout == "star":
        loci = tuple((q, "COMP_R") for q in names)
        return ChipShape(name, shown, names, ("COMP_R",), loci, loci, loci, label)
    pairs = tuple((names[i], names[i + 1]) for i in range(qubits - 1)) if layout == "line" else _grid_couplers(names)
    return ChipShape(name, shown, names, (), pairs, pairs, (), label)
