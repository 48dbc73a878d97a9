"""Calibrated noise for the executor: one Aer noise model per calibration set and group of components, and heralding.

With ``noise="calibrated"`` every job is simulated with the noise of the calibration set it was
submitted with (docs/protocol.md#noisy-simulation): thermal relaxation from T1/T2 over each gate's
duration, a depolarizing error fitted so that each gate has its calibrated fidelity, and each qubit's
readout error. Idle qubits do not decohere between gates (the simulation has no schedule).
With ``heralding_mode="zeros"`` each shot begins with a heralding readout of every qubit the circuit
uses; a shot in which any of them reads 1 (a readout error on a qubit prepared in 0) is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..calibration import CalibrationMetrics
from ..noise import NoiseSpec, build_noise_model, noise_spec

__all__ = ["JobNoise"]

Locus = tuple[str, ...]


class JobNoise:
    """The noise of one calibration set: noise models per group of components (cached), and the heralding filter."""

    def __init__(self, spec: NoiseSpec, gate_loci: Mapping[str, Sequence[Locus]]):
        self.spec = spec
        self._gate_loci = gate_loci
        self._models: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_metrics(cls, metrics: CalibrationMetrics, gate_loci: Mapping[str, Sequence[Locus]]) -> JobNoise:
        """Fit the noise of a calibration set (the depolarizing parameters to its fidelities)."""
        return cls(noise_spec(metrics), gate_loci)

    def model_for(self, components: tuple[str, ...]) -> Any:
        """Return the Aer noise model of a group of components (Qiskit qubit ``i`` = ``components[i]``)."""
        with self._lock:
            model = self._models.get(components)
            if model is None:
                model = build_noise_model(self.spec, components, self._gate_loci)
                self._models[components] = model
            return model

    def herald(
        self, bits: np.ndarray[Any, np.dtype[np.uint8]], components: Sequence[str], seed: int
    ) -> np.ndarray[Any, np.dtype[np.uint8]]:
        """Drop the shots whose heralding readout of any of ``components`` was not 0; return the kept rows."""
        shots = bits.shape[0]
        rng = np.random.default_rng(seed)
        keep = np.ones(shots, dtype=bool)
        for comp in components:
            e01, _ = self.spec.readout_error(comp)
            if e01 > 0:
                keep &= rng.random(shots) >= e01
        return bits[keep]
