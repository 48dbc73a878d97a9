"""Run wire jobs in-process with the embedded server's validation and simulation, without HTTP (fake backends).

:class:`LocalSimulator` validates a job against a DQA exactly as a submit to the server does, then
simulates each circuit the way the server's executor does (the same compiled parts, the same noise
models, the same heralding filter), so a fake backend and a noisy embedded server agree within shot
noise on the same calibration numbers.
"""

from __future__ import annotations

import functools
import secrets
import threading
from typing import Any

import numpy as np

from ..models import CircuitJobDefinition, DynamicQuantumArchitecture
from .checks import validate
from .executor import (
    _HERALD_PART,
    DENSITY_MATRIX_WIDTH,
    SHOT_CHUNK,
    CompiledCircuit,
    _memory_to_bits,
    compile_circuit,
    derive_seed,
)
from .noisy import JobNoise

__all__ = ["LocalSimulator"]


class LocalSimulator:
    """Validate and simulate wire jobs for one DQA, optionally with noise; thread-safe, runs in the caller's thread.

    Args:
        dqa: the architecture jobs are validated against.
        noise: the noise to simulate with; None simulates exactly.
        seed: base seed of every simulation; None draws one (outcomes then differ between runs).
        max_components: the widest entangled group a circuit may have.
    """

    def __init__(
        self,
        dqa: DynamicQuantumArchitecture,
        noise: JobNoise | None = None,
        *,
        seed: int | None = None,
        max_components: int = 20,
    ):
        self.dqa = dqa
        self.noise = noise
        self.seed = seed if seed is not None else secrets.randbits(63)
        self.max_components = max_components
        self._jobs = 0
        self._lock = threading.Lock()

    @functools.cached_property
    def _simulators(self) -> tuple[Any, Any]:
        from qiskit_aer import AerSimulator

        return (
            AerSimulator(method="statevector", max_parallel_threads=1),
            AerSimulator(method="density_matrix", max_parallel_threads=1),
        )

    def run(self, definition: CircuitJobDefinition) -> list[dict[str, np.ndarray[Any, np.dtype[np.uint8]]]]:
        """Return each circuit's measurements ``{key: bits(shots, n)}``, as the server's artifact would hold them.

        Raises:
            ValidationError: the job breaks a rule the server checks on submit.
        """
        physical = validate(definition, self.dqa, self.max_components)
        with self._lock:
            job_seq = self._jobs
            self._jobs += 1
        shots = physical.parameters.shots
        heralding = self.noise is not None and physical.parameters.heralding_mode == "zeros"
        out = []
        for i, circuit in enumerate(physical.circuits):
            compiled = compile_circuit(circuit)
            chunks = [
                self._simulate(compiled, min(SHOT_CHUNK, shots - done), job_seq, i, n)
                for n, done in enumerate(range(0, shots, SHOT_CHUNK))
            ]
            bits = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            if heralding and self.noise is not None:
                used = [c for part in compiled.parts for c in part.components]
                bits = self.noise.herald(bits, used, derive_seed(self.seed, job_seq, i, 0, _HERALD_PART))
            out.append({key: bits[:, list(clbits)] for key, clbits in compiled.keys})
        return out

    def _simulate(
        self, compiled: CompiledCircuit, shots: int, job_seq: int, index: int, chunk: int
    ) -> np.ndarray[Any, np.dtype[np.uint8]]:
        statevector, density = self._simulators
        out = np.zeros((shots, compiled.num_clbits), dtype=np.uint8)
        for n, part in enumerate(compiled.parts):
            kwargs: dict[str, Any] = {"shots": shots, "memory": True}
            kwargs["seed_simulator"] = derive_seed(self.seed, job_seq, index, chunk, n)
            simulator = statevector
            if self.noise is not None:
                kwargs["noise_model"] = self.noise.model_for(part.components)
                if part.circuit.num_qubits <= DENSITY_MATRIX_WIDTH:
                    simulator = density
            result = simulator.run(part.circuit, **kwargs).result()
            if not result.success:
                raise RuntimeError(f"the simulator failed: {result.status}")
            bits = _memory_to_bits(result.data(0).get("memory", []), part.circuit.num_clbits)
            out[:, list(part.clbits)] = bits[:, : len(part.clbits)]
        return out
