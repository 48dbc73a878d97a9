"""The simulated chip: qubit names, couplings, and the DQA/SQA the server reports for them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..models import DynamicQuantumArchitecture, GateInfo, StaticQuantumArchitecture
from .config import ServerConfig

__all__ = ["RESONATOR", "build_dqa", "build_sqa", "couplings", "qubit_names"]

RESONATOR = "COMP_R"
"""Name of the computational resonator of the star layout."""


def qubit_names(n: int) -> tuple[str, ...]:
    """Return ``QB1…QBn``."""
    return tuple(f"QB{i}" for i in range(1, n + 1))


def _grid_shape(n: int) -> tuple[int, int]:
    # Near-square: as many columns as the square root rounded up, rows filled in order (4 × 5 for 20).
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    return rows, cols


def couplings(config: ServerConfig) -> tuple[tuple[str, str], ...]:
    """Return the two-component couplings of the configured layout, in a stable order."""
    names = qubit_names(config.qubits)
    n = config.qubits
    if config.layout == "line":
        return tuple((names[i], names[i + 1]) for i in range(n - 1))
    if config.layout == "star":
        return tuple((q, RESONATOR) for q in names)
    _, cols = _grid_shape(n)
    pairs: list[tuple[str, str]] = []
    for k in range(n):
        if (k % cols) + 1 < cols and k + 1 < n:
            pairs.append((names[k], names[k + 1]))
        if k + cols < n:
            pairs.append((names[k], names[k + cols]))
    return tuple(pairs)


def _gate(impl: str, loci: Sequence[tuple[str, ...]]) -> GateInfo:
    return GateInfo(implementations={impl: tuple(loci)}, default_implementation=impl)


def build_dqa(config: ServerConfig, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture:
    """Build the dynamic quantum architecture of the configured chip for one calibration set."""
    names = qubit_names(config.qubits)
    single = [(q,) for q in names]
    pairs = list(couplings(config))
    gates: dict[str, GateInfo] = {
        "prx": _gate("drag_gaussian", single),
        "cc_prx": _gate("prx_composite", single),
        "cz": _gate("tgss", list(pairs)),
        "measure": _gate("constant", single),
    }
    resonators: tuple[str, ...] = ()
    if config.layout == "star":
        resonators = (RESONATOR,)
        gates["move"] = _gate("tgss_crf", list(pairs))
    return DynamicQuantumArchitecture(
        calibration_set_id=calibration_set_id or config.calibration_set_id,
        qubits=names,
        computational_resonators=resonators,
        gates=gates,
    )


def build_sqa(config: ServerConfig) -> StaticQuantumArchitecture:
    """Build the static quantum architecture (chip layout) of the configured chip."""
    return StaticQuantumArchitecture(
        qubits=qubit_names(config.qubits),
        computational_resonators=(RESONATOR,) if config.layout == "star" else (),
        connectivity=couplings(config),
        dut_label=config.dut_label,
    )
