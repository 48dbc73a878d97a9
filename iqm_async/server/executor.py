"""FIFO executor of the embedded server: wire circuits → Qiskit circuits → qiskit-aer → wire measurements.

One job runs at a time in one dedicated worker thread, so the event loop keeps answering status calls
while Aer works. Circuits are built directly from AerSimulator-native gates (``r``, ``cz``, ``swap``,
``measure``, ``reset``, ``if_else``) over only the components a circuit uses, so nothing is
transpiled; components that never interact are simulated in separate parts (so a circuit touching
all 54 qubits of a crystal costs only as much as its widest entangled group); built circuits are
cached because benchmarks submit the same small circuits many times.

Semantics (docs/protocol.md#queue-and-execution): ``prx(θ, φ)`` is Qiskit's ``RGate(θ, φ)``; ``move`` swaps qubit and
resonator; ``measure`` is a Z measurement (mid-circuit allowed); ``cc_prx`` applies its PRX only when
the bit recorded under ``feedback_key`` in the same shot is 1; ``barrier``/``delay`` do nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from ..models import Circuit, ErrorBody
from .artifacts import PackedMeasurements
from .checks import entangled_groups
from .config import ServerConfig
from .faults import FaultBoard
from .noisy import JobNoise
from .store import JobRecord, JobStore

__all__ = [
    "PART_WIDTH",
    "SHOT_CHUNK",
    "CompiledCircuit",
    "CompiledPart",
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
_HERALD_PART = 1_000_003
"""Seed-derivation index of the heralding draws (distinct from any real part index)."""
DENSITY_MATRIX_WIDTH = 10
"""Noisy parts up to this many qubits run on Aer's density-matrix method (every shot sampled from one run)."""


class _Cancelled(Exception):
    pass


PART_WIDTH = 10
"""Independent groups of components are packed into Aer circuits of at most this many qubits (or one group)."""


@dataclass(frozen=True)
class CompiledPart:
    """One Aer circuit over a set of components that interact only among themselves."""

    circuit: QuantumCircuit
    clbits: tuple[int, ...]
    """The circuit-wide clbit of each of this part's clbits, in order."""
    components: tuple[str, ...] = ()
    """The component of each Qiskit qubit of :attr:`circuit`, in order (for the noise model)."""


@dataclass(frozen=True)
class CompiledCircuit:
    """A wire circuit turned into Aer-ready Qiskit circuits, with the clbits of each measurement key.

    Components that never interact (no two-qubit gate or classical feedback between them) are
    simulated in separate parts, so the cost grows with the widest entangled group, not with the
    number of components touched.
    """

    parts: tuple[CompiledPart, ...]
    """Empty when the circuit measures nothing, so there is nothing to simulate."""
    num_clbits: int
    keys: tuple[tuple[str, tuple[int, ...]], ...]
    """Measurement keys in first-appearance order, each with its clbits in locus order."""

    @property
    def circuit(self) -> QuantumCircuit | None:
        """The one Aer circuit when there is exactly one part, else None."""
        return self.parts[0].circuit if len(self.parts) == 1 else None

    @property
    def width(self) -> int:
        """Qubits of the widest part."""
        return max((p.circuit.num_qubits for p in self.parts), default=0)


def _pack(groups: list[tuple[str, ...]]) -> list[list[str]]:
    """Pack groups (largest first) into bins of at most PART_WIDTH components; a wider group gets its own bin."""
    bins: list[list[str]] = []
    for group in groups:
        for b in bins:
            if len(b) + len(group) <= PART_WIDTH:
                b.extend(group)
                break
        else:
            bins.append(list(group))
    return bins


def compile_circuit(circuit: Circuit) -> CompiledCircuit:
    """Build the Qiskit circuits for one wire circuit (physical names; validated beforehand)."""
    num_clbits = sum(len(i.locus) for i in circuit.instructions if i.name == "measure")
    if num_clbits == 0:
        return CompiledCircuit((), 0, ())
    bins = _pack(entangled_groups(circuit))
    part_of = {comp: n for n, b in enumerate(bins) for comp in b}
    # Circuit-wide clbits in instruction order; each belongs to the part of the component it measures.
    clbit_part: list[int] = []
    for inst in circuit.instructions:
        if inst.name == "measure":
            clbit_part.extend(part_of[comp] for comp in inst.locus)
    part_clbits = [tuple(c for c, p in enumerate(clbit_part) if p == n) for n in range(len(bins))]
    local_clbit = {c: i for clbits in part_clbits for i, c in enumerate(clbits)}
    qregs = [QuantumRegister(len(b), "q") for b in bins]
    cregs = [ClassicalRegister(max(1, len(part_clbits[n])), "c") for n in range(len(bins))]
    qcs = [QuantumCircuit(qregs[n], cregs[n], name=circuit.name) for n in range(len(bins))]
    index = {comp: b.index(comp) for b in bins for comp in b}

    def q(comp: str) -> tuple[QuantumCircuit, Any]:
        n = part_of[comp]
        return qcs[n], qregs[n][index[comp]]

    keys: dict[str, tuple[int, ...]] = {}
    feedback: dict[tuple[str, str], int] = {}
    next_clbit = 0
    for inst in circuit.instructions:
        name = inst.name
        args = inst.args
        if name == "prx":
            qc, qubit = q(inst.locus[0])
            qc.r(float(args["angle"]), float(args["phase"]), qubit)
        elif name == "cc_prx":
            source = feedback.get((str(args["feedback_key"]), str(args["feedback_qubit"])))
            if source is None:
                raise ValueError(
                    f"cc_prx in circuit {circuit.name!r}: no earlier measurement of {args['feedback_qubit']!r} "
                    f"under feedback key {args['feedback_key']!r}"
                )
            qc, qubit = q(inst.locus[0])
            with qc.if_test((cregs[part_of[inst.locus[0]]][local_clbit[source]], 1)):
                qc.r(float(args["angle"]), float(args["phase"]), qubit)
        elif name in ("cz", "move"):
            qc, a = q(inst.locus[0])
            _, b = q(inst.locus[1])
            # move swaps the qubit's state into the resonator (and back).
            qc.cz(a, b) if name == "cz" else qc.swap(a, b)
        elif name == "measure":
            bits = []
            for comp in inst.locus:
                qc, qubit = q(comp)
                qc.measure(qubit, cregs[part_of[comp]][local_clbit[next_clbit]])
                bits.append(next_clbit)
                # cc_prx refers to a measurement by its feedback_key (docs/protocol.md rule 8); accept the key as well.
                for label in {args.get("key"), args.get("feedback_key")}:
                    if isinstance(label, str):
                        feedback[(label, comp)] = next_clbit
                next_clbit += 1
            keys.setdefault(str(args["key"]), tuple(bits))
        elif name == "reset":
            for comp in inst.locus:
                qc, qubit = q(comp)
                qc.reset(qubit)
        elif name in _NO_OP:
            continue
        else:
            raise ValueError(f"instruction {name!r} in circuit {circuit.name!r} cannot be simulated")
    # A part that measures nothing cannot change any outcome.
    parts = tuple(CompiledPart(qcs[n], part_clbits[n], tuple(bins[n])) for n in range(len(bins)) if part_clbits[n])
    return CompiledCircuit(parts, num_clbits, tuple(keys.items()))


def _cache_key(circuit: Circuit) -> Hashable | None:
    try:
        key = tuple((i.name, i.locus, tuple(sorted(i.args.items())), i.implementation) for i in circuit.instructions)
        hash(key)
    except TypeError:
        return None
    return key


def derive_seed(base: int, job_seq: int, circuit_index: int, chunk: int, part: int = 0) -> int:
    """Return the Aer seed of one shot chunk (of one part of a circuit), derived from the server seed."""
    text = f"{base}/{job_seq}/{circuit_index}/{chunk}" + (f"/{part}" if part else "")
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
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

    def __init__(
        self,
        store: JobStore,
        faults: FaultBoard,
        config: ServerConfig,
        seed: int,
        noise: Callable[[JobRecord], JobNoise | None] | None = None,
    ):
        self._noise = noise
        self._density: Any = None
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
        self._density = AerSimulator(method="density_matrix", max_parallel_threads=1)
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
        measurements: list[PackedMeasurements] = []
        counts: list[dict[str, Any]] = []
        noise = self._noise(job) if self._noise is not None else None
        heralding = noise is not None and job.definition.parameters.heralding_mode == "zeros"
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
                seed = functools.partial(derive_seed, self._seed, job.seq, i, chunk)
                chunks.append(self._simulate(compiled, n, seed, noise))
                self._pause(job, n * cfg.exec_time_per_shot)
                done += n
                chunk += 1
            self._pause(job, cfg.exec_time_per_circuit)
            bits = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            if heralding and noise is not None:
                used = [c for part in compiled.parts for c in part.components]
                bits = noise.herald(bits, used, derive_seed(self._seed, job.seq, i, 0, _HERALD_PART))
            # Kept packed (one byte per bit); the store turns them into JSON rows only when they are read.
            measurements.append(PackedMeasurements(compiled.keys, bits))
            counts.append(counts_from_bits(compiled, bits))
            self._store.set_progress(job, i + 1)
        if fail is not None:
            self._store.fail(job, ErrorBody(fail.message, fail.error_code))
            return
        self._store.complete(job, measurements, counts)

    def _simulate(
        self, compiled: CompiledCircuit, shots: int, seed: Callable[[int], int], noise: JobNoise | None = None
    ) -> np.ndarray[Any, np.dtype[np.uint8]]:
        out = np.zeros((shots, compiled.num_clbits), dtype=np.uint8)
        for n, part in enumerate(compiled.parts):
            if noise is None:
                run = self._simulator.run(part.circuit, shots=shots, memory=True, seed_simulator=seed(n))
            else:
                simulator = self._density if part.circuit.num_qubits <= DENSITY_MATRIX_WIDTH else self._simulator
                model = noise.model_for(part.components)
                run = simulator.run(part.circuit, shots=shots, memory=True, seed_simulator=seed(n), noise_model=model)
            result = run.result()
            if not result.success:
                raise RuntimeError(f"the simulator failed: {result.status}")
            memory = result.data(0).get("memory", [])
            bits = _memory_to_bits(memory, part.circuit.num_clbits)
            out[:, list(part.clbits)] = bits[:, : len(part.clbits)]
        return out
