"""Plausible, seeded calibration numbers for a chip shape: T1/T2, gate fidelities and durations, readout errors.

The numbers are drawn per qubit and per coupler from log-normal spreads around the medians IQM
publishes for each machine class (crystals such as Garnet and Emerald; stars such as Sirius and
Deneb), with a seed derived from the chip and the calibration set id: the same set always has the
same numbers, and a new calibration set drifts a little, as a recalibrated machine does. No Qiskit.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from ..calibration import CalibrationMetrics
from .chips import ChipShape

__all__ = ["MachineClass", "machine_class", "synthetic_metrics"]


@dataclass(frozen=True)
class MachineClass:
    """Medians (and a log-normal spread) of one class of IQM machine; times in seconds."""

    t1: float
    t2_ratio: float
    """Median T2 / T1."""
    prx_error: float
    cz_error: float
    move_error: float
    readout_error_0: float
    """Median P(read 1 | was 0)."""
    readout_error_1: float
    """Median P(read 0 | was 1): larger, because the qubit relaxes during the readout."""
    prx_duration: float
    cz_duration: float
    move_duration: float
    measure_duration: float
    spread: float = 0.35
    """Log-normal sigma of every error and time."""


CRYSTAL = MachineClass(
    t1=40e-6,
    t2_ratio=0.55,
    prx_error=8e-4,
    cz_error=5e-3,
    move_error=0.0,
    readout_error_0=0.015,
    readout_error_1=0.035,
    prx_duration=20e-9,
    cz_duration=40e-9,
    move_duration=0.0,
    measure_duration=1.5e-6,
)
"""Garnet/Emerald-class crystals: median T1 ≈ 40 µs, 1Q fidelity ≈ 99.92 %, CZ ≈ 99.5 %, readout ≈ 97.5 %."""

STAR = MachineClass(
    t1=35e-6,
    t2_ratio=0.6,
    prx_error=5e-4,
    cz_error=1.2e-2,
    move_error=6e-3,
    readout_error_0=0.015,
    readout_error_1=0.03,
    prx_duration=40e-9,
    cz_duration=120e-9,
    move_duration=96e-9,
    measure_duration=1.5e-6,
)
"""Sirius/Deneb-class stars: qubit–resonator CZ ≈ 98.8 %, MOVE ≈ 99.4 %, slower two-component gates."""


def machine_class(shape: ChipShape) -> MachineClass:
    """Return the class of machine a chip shape belongs to (star chips have computational resonators)."""
    return STAR if shape.is_star else CRYSTAL


def _rng(shape: ChipShape, calibration_set_id: str) -> random.Random:
    digest = hashlib.blake2b(f"{shape.name}/{calibration_set_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _coherence_limit(
    locus: tuple[str, ...], duration: float, t1: Mapping[str, float], t2: Mapping[str, float]
) -> float:
    """Return the average gate fidelity relaxation alone leaves over ``duration`` (``(d·P + 1)/(d + 1)``)."""
    process = 1.0
    for comp in locus:
        if comp in t1 and comp in t2:
            process *= (1 + math.exp(-duration / t1[comp]) + 2 * math.exp(-duration / t2[comp])) / 4
    d = 1 << len(locus)
    return (d * process + 1) / (d + 1)


def synthetic_metrics(
    shape: ChipShape,
    calibration_set_id: str | None = None,
    *,
    overrides: Mapping[str, Mapping[tuple[str, ...], float]] | None = None,
) -> CalibrationMetrics:
    """Return seeded, plausible calibration numbers for every qubit and gate locus of ``shape``.

    Args:
        shape: the chip.
        calibration_set_id: the set the numbers belong to (default: the shape's default set); it seeds them.
        overrides: replace single fidelities, e.g. ``{"cz": {("QB1", "QB2"): 0.8}}`` for a bad coupler,
            or ``{"prx": {("QB3",): 0.95}}`` for a bad qubit.
    """
    cal_id = calibration_set_id or shape.calibration_set_id
    cls = machine_class(shape)
    rng = _rng(shape, cal_id)

    def draw(median: float, lo: float, hi: float) -> float:
        return min(hi, max(lo, median * math.exp(rng.gauss(0.0, cls.spread))))

    t1: dict[str, float] = {}
    t2: dict[str, float] = {}
    freqs: dict[str, float] = {}
    readout: dict[str, tuple[float, float]] = {}
    prx: dict[tuple[str, ...], float] = {}
    measure: dict[tuple[str, ...], float] = {}
    for q in shape.qubits:
        t1[q] = draw(cls.t1, 8e-6, 150e-6)
        # T2 is at most 2·T1 physically; keep a margin.
        t2[q] = min(1.8 * t1[q], t1[q] * draw(cls.t2_ratio, 0.15, 1.5))
        freqs[q] = round(4.0e9 + 0.8e9 * rng.random(), -3)
        e0 = draw(cls.readout_error_0, 2e-3, 0.2)
        e1 = draw(cls.readout_error_1, 4e-3, 0.25)
        readout[q] = (e0, e1)
        prx[(q,)] = 1.0 - draw(cls.prx_error, 5e-5, 2e-2)
        measure[(q,)] = 1.0 - (e0 + e1) / 2
    for r in shape.resonators:
        # A computational resonator holds a state longer than a qubit does.
        t1[r] = draw(3 * cls.t1, 20e-6, 400e-6)
        t2[r] = min(1.8 * t1[r], t1[r] * draw(0.8, 0.3, 1.5))
    cz = {tuple(locus): 1.0 - draw(cls.cz_error, 5e-4, 0.15) for locus in shape.cz_loci}
    fidelities: dict[str, dict[tuple[str, ...], float]] = {"prx": prx, "cz": cz, "measure": measure}
    durations: dict[str, dict[tuple[str, ...], float]] = {
        "prx": dict.fromkeys(prx, cls.prx_duration),
        "cz": dict.fromkeys(cz, cls.cz_duration),
        "measure": dict.fromkeys(measure, cls.measure_duration),
    }
    if shape.move_loci:
        fidelities["move"] = {tuple(locus): 1.0 - draw(cls.move_error, 5e-4, 0.1) for locus in shape.move_loci}
        durations["move"] = dict.fromkeys(fidelities["move"], cls.move_duration)
    # No gate can beat the relaxation during it: keep every fidelity just under its coherence limit, so that
    # a noise model (relaxation, then depolarizing) reproduces it exactly.
    for gate, by_locus in fidelities.items():
        if gate == "measure":
            continue
        for locus in by_locus:
            limit = _coherence_limit(locus, durations[gate][locus], t1, t2)
            by_locus[locus] = min(by_locus[locus], limit - 1e-6)
    for gate, wanted in (overrides or {}).items():
        for locus, value in wanted.items():
            fidelities.setdefault(gate, {})[tuple(locus)] = float(value)
            if gate == "measure":
                # A measurement fidelity is 1 - the mean of both readout errors: split the error evenly.
                readout[locus[0]] = (1.0 - float(value), 1.0 - float(value))
    return CalibrationMetrics(
        calibration_set_id=cal_id,
        t1=t1,
        t2=t2,
        frequencies=freqs,
        fidelities=fidelities,
        durations=durations,
        readout_errors=readout,
        dut_label=shape.dut_label,
    )
