"""FIFO executor of the embedded server: wire circuits → Qiskit circuits → qiskit-aer → wire measurements.

One job runs at a time in one dedicated worker thread, so the event loop keeps answering status calls
while Aer works. Circuits are built directly from AerSimulator-native gates (``r``, ``cz``, ``swap``,
``measure``, ``reset``, ``if_else``) over only the components a circuit uses, so nothing is
transpiled; built circuits are cached because benchmarks submit the same small circuits many times.

Semantics (protocol §10.5): ``prx(θ, φ)`` is Qiskit's ``RGate(θ, φ)``; ``move`` swaps qubit and
resonator; ``measure`` is a Z measurement (mid-circuit allowed); ``cc_prx`` applies its PRX only when
the bit recorded under ``feedback_key`` in the same shot is 1; ``barrier``/``delay`` do nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from ..models import Circuit, ErrorBody
from .config import ServerConfig
from .faults import FaultBoard
from .store import JobRecord, JobStore

__all__ = [
    "SHOT_CHUNK",
    "CompiledCircuit",
    "Executor",
    "compile_circuit",
    "counts_from_bits",
    "derive_seed",
    "measurements_from_bits",
]

logger = logging.getLogger("iqm_async.server")

SHOT_CHUNK = 10_000
"""Shots simulated per Aer run; cancellation is checked between chunks."""
_CACHE_SIZE = 2048
_NO_OP = frozenset({"barrier", "delay"})


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class CompiledCircuit:
    """A wire circuit turned into an Aer-ready Qiskit circuit, with the clbits of each measurement key."""

    circuit: QuantumCircuit | None
    """None when the circuit measures nothing, so there is nothing to simulate."""
    num_clbits: int
    keys: tuple[tuple[str, tuple[int, ...]], ...]
    """Measurement keys in first-appearance order, each with its clbits in locus order."""


def compile_circuit(circuit: Circuit) -> CompiledCircuit:
    """Build the Qiskit circuit for one wire circuit (physical names; validated beforehand)."""
    index: dict[str, int] = {}
    for inst in circuit.instructions:
        if inst.name not in _NO_OP:
            for comp in inst.locus:
                index.setdefault(comp, len(index))
    num_clbits = sum(len(i.locus) for i in circuit.instructions if i.name == "measure")
    if num_clbits == 0:
        return CompiledCircuit(None, 0, ())
    qreg = QuantumRegister(len(index), "q")
    creg = ClassicalRegister(num_clbits, "c")
    qc = QuantumCircuit(qreg, creg, name=circuit.name)
    keys: dict[str, tuple[int, ...]] = {}
    feedback: dict[tuple[str, str], int] = {}
    next_clbit = 0
    for inst in circuit.instructions:
        name = inst.name
        args = inst.args
        if name == "prx":
            qc.r(float(args["angle"]), float(args["phase"]), qreg[index[inst.locus[0]]])
        elif name == "cc_prx":
            source = feedback.get((str(args["feedback_key"]), str(args["feedback_qubit"])))
            if source is None:
                raise ValueError(
                    f"cc_prx in circuit {circuit.name!r}: no earlier measurement of {args['feedback_qubit']!r} "
                    f"under feedback key {args['feedback_key']!r}"
                )
            with qc.if_test((creg[source], 1)):
                qc.r(float(args["angle"]), float(args["phase"]), qreg[index[inst.locus[0]]])
        elif name == "cz":
            qc.cz(qreg[index[inst.locus[0]]], qreg[index[inst.locus[1]]])
        elif name == "move":
            qc.swap(qreg[index[inst.locus[0]]], qreg[index[inst.locus[1]]])
        elif name == "measure":
            bits = []
            for comp in inst.locus:
                qc.measure(qreg[index[comp]], creg[next_clbit])
                bits.append(next_clbit)
                # cc_prx refers to a measurement by its feedback_key (§6.6 rule 8); accept the key as well.
                for label in {args.get("key"), args.get("feedback_key")}:
                    if isinstance(label, str):
                        feedback[(label, comp)] = next_clbit
                next_clbit += 1
            keys.setdefault(str(args["key"]), tuple(bits))
        elif name == "reset":
            for comp in inst.locus:
                qc.reset(qreg[index[comp]])
        elif name in _NO_OP:
            continue
        else:
            raise ValueError(f"instruction {name!r} in circuit {circuit.name!r} cannot be simulated")
    return CompiledCircuit(qc, num_clbits, tuple(keys.items()))


def _cache_key(circuit: Circuit) -> Hashable | None:
    try:
        key = tuple((i.name, i.locus, tuple(sorted(i.args.items())), i.implementation) for i in circuit.instructions)
        hash(key)
    except TypeError:
        return None
    return key


def derive_seed(base: int, job_seq: int, circuit_index: int, chunk: int) -> int:
    """Return the Aer seed of one shot chunk, derived from the server seed so runs are reproducible."""
    digest = hashlib.blake2b(f"{base}/{job_seq}/{circuit_index}/{chunk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31)


def _memory_to_bits(memory: Sequence[str], num_clbits: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Turn Aer's per-shot hex memory into a shots × clbits array of 0/1 (column = clbit index)."""
    shots = len(memory)
    out = np.zeros((shots, num_clbits), dtype=np.uint8)
    if shots == 0:
        return out
    if num_clbits <= 63:
        values = np.fromiter((int(h, 16) for h in memory), dtype=np.uint64, count=shots)
        for c in range(num_clbits):
            out[:, c] = (values >> np.uint64(c)) & np.uint64(1)
    else:
        ints = [int(h, 16) for h in memory]
        for c in range(num_clbits):
            out[:, c] = [(v >> c) & 1 for v in ints]
    return out


def measurements_from_bits(
    compiled: CompiledCircuit, bits: np.ndarray[Any, np.dtype[np.uint8]]
) -> dict[str, list[list[int]]]:
    """Return the E7 object of one circuit: every key → one row per shot, one bit per locus component."""
    return {key: bits[:, list(clbits)].tolist() for key, clbits in compiled.keys}


def counts_from_bits(compiled: CompiledCircuit, bits: np.ndarray[Any, np.dtype[np.uint8]]) -> dict[str, Any]:
    """Return the E8 entry of one circuit: keys in first-appearance order, bits concatenated, no reversal."""
    names = [key for key, _ in compiled.keys]
    columns = [c for _, clbits in compiled.keys for c in clbits]
    if not columns:
        return {"measurement_keys": names, "counts": {}}
    width = len(columns)
    text = (bits[:, columns] + ord("0")).astype(np.uint8).tobytes().decode("ascii")
    rows = (text[i : i + width] for i in range(0, len(text), width))
    return {"measurement_keys": names, "counts": dict(Counter(rows))}


class Executor:
    """Runs queued jobs one at a time in a dedicated daemon thread."""

    def __init__(self, store: JobStore, faults: FaultBoard, config: ServerConfig, seed: int):
        self._store = store
        self._faults = faults
        self._config = config
        self._seed = seed
        self._thread: threading.Thread | None = None
        self._simulator: Any = None
        self._cache: OrderedDict[Hashable, CompiledCircuit] = OrderedDict()
        self.jobs_executed = 0
        """Jobs the executor has finished (any outcome) since it was created."""

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self.running:
            return
        self._store.reopen()
        self._thread = threading.Thread(target=self._run, name="iqm-server-executor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs, tell a running job to stop, and join the worker thread."""
        self._store.close()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        from qiskit_aer import AerSimulator

        # One thread per run: jobs are small, and Aer's thread start-up would dominate otherwise.
        self._simulator = AerSimulator(method="statevector", max_parallel_threads=1)
        while True:
            job = self._store.take_next()
            if job is None:
                return
            try:
                self._execute(job)
            except _Cancelled:
                self._store.finish_cancelled(job)
            except Exception as exc:
                logger.exception("job %s failed in the executor", job.id)
                self._store.fail(job, ErrorBody(f"Execution failed: {exc}", "internal_error"))
            finally:
                self.jobs_executed += 1

    def _compile(self, circuit: Circuit) -> CompiledCircuit:
        key = _cache_key(circuit)
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        compiled = compile_circuit(circuit)
        if key is not None:
            self._cache[key] = compiled
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return compiled

    def _pause(self, job: JobRecord, seconds: float) -> None:
        if seconds > 0 and self._store.wait_cancel(job, seconds):
            raise _Cancelled
        if self._store.cancel_requested(job):
            raise _Cancelled

    def _execute(self, job: JobRecord) -> None:
        fail = self._faults.take_fail_job(job.id)
        circuits = job.definition.circuits
        shots = job.definition.parameters.shots
        cfg = self._config
        measurements: list[dict[str, list[list[int]]]] = []
        counts: list[dict[str, Any]] = []
        for i, circuit in enumerate(circuits):
            if fail is not None and fail.after_circuits <= i:
                self._store.fail(job, ErrorBody(fail.message, fail.error_code))
                return
            self._pause(job, 0.0)
            compiled = self._compile(circuit)
            chunks = []
            done = 0
            chunk = 0
            while done < shots:
                n = min(SHOT_CHUNK, shots - done)
                chunks.append(self._simulate(compiled, n, derive_seed(self._seed, job.seq, i, chunk)))
                self._pause(job, n * cfg.exec_time_per_shot)
                done += n
                chunk += 1
            self._pause(job, cfg.exec_time_per_circuit)
            bits = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            measurements.append(measurements_from_bits(compiled, bits))
            counts.append(counts_from_bits(compiled, bits))
            self._store.set_progress(job, i + 1)
        if fail is not None:
            self._store.fail(job, ErrorBody(fail.message, fail.error_code))
            return
        self._store.complete(job, measurements, counts)

    def _simulate(self, compiled: CompiledCircuit, shots: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
        if compiled.circuit is None:
            return np.zeros((shots, 0), dtype=np.uint8)
        result = self._simulator.run(compiled.circuit, shots=shots, memory=True, seed_simulator=seed).result()
        if not result.success:
            raise RuntimeError(f"the simulator failed: {result.status}")
        memory = result.data(0).get("memory", [])
        return _memory_to_bits(memory, compiled.num_clbits)
