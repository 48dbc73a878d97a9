"""The simulated chips: which quantum computers the server serves, and the DQA/SQA it reports for each."""

from __future__ import annotations

from dataclasses import dataclass

from ..devices.chips import ChipShape, chip, generic_chip
from ..models import DynamicQuantumArchitecture, QuantumComputer, StaticQuantumArchitecture
from .config import CHIP_SIM, ServerConfig

__all__ = [
    "RESONATOR",
    "ServedChip",
    "build_dqa",
    "build_sqa",
    "couplings",
    "qubit_names",
    "served_chips",
    "sim_shape",
]

RESONATOR = "COMP_R"
"""Name of the computational resonator of the generic star layout."""


@dataclass(frozen=True)
class ServedChip:
    """One quantum computer of the server: its E1 entry, its chip shape and its default calibration set."""

    quantum_computer: QuantumComputer
    shape: ChipShape
    calibration_set_id: str

    @property
    def alias(self) -> str:
        """The alias used as ``{qc}`` in every path."""
        return self.quantum_computer.alias


def qubit_names(n: int) -> tuple[str, ...]:
    """Return ``QB1…QBn``."""
    return tuple(f"QB{i}" for i in range(1, n + 1))


def sim_shape(config: ServerConfig) -> ChipShape:
    """Return the generic ``sim`` chip of the configuration (``qubits`` on ``layout``)."""
    return generic_chip(
        config.qubits, config.layout, name=config.alias, display_name=config.display_name, dut_label=config.dut_label
    )


def served_chips(config: ServerConfig) -> tuple[ServedChip, ...]:
    """Return every quantum computer the configuration serves, the first (default) one first."""
    out = []
    for name in config.chips:
        if name == CHIP_SIM:
            shape = sim_shape(config)
            qc = QuantumComputer(id=config.qc_id, alias=config.alias, display_name=config.display_name)
            out.append(ServedChip(qc, shape, config.calibration_set_id))
        else:
            shape = chip(name)
            qc = QuantumComputer(id=shape.qc_id, alias=shape.name, display_name=shape.display_name)
            out.append(ServedChip(qc, shape, shape.calibration_set_id))
    return tuple(out)


def couplings(config: ServerConfig) -> tuple[tuple[str, str], ...]:
    """Return the two-component couplings of the configured ``sim`` layout, in a stable order."""
    return sim_shape(config).connectivity


def build_dqa(config: ServerConfig, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture:
    """Build the dynamic quantum architecture of the configured ``sim`` chip for one calibration set."""
    return sim_shape(config).dqa(calibration_set_id or config.calibration_set_id)


def build_sqa(config: ServerConfig) -> StaticQuantumArchitecture:
    """Build the static quantum architecture (chip layout) of the configured ``sim`` chip."""
    return sim_shape(config).sqa()
