"""Star-chip transpilation: our MOVE routing vs IQM's own ``transpile_to_IQM`` on the same circuits.

Both sides get the same circuits (QASM 2, already in ``u``/``cx``) and the same star architecture
(``QB1…QBn`` around one resonator ``COMP_R``, ``cz`` and ``move`` on every ``[qubit, COMP_R]``, as the
embedded server's ``layout="star"`` serves), and run their ``transpile_to_IQM`` with default flags,
``optimization_level=2`` (Qiskit's default) and the same ``seed_transpiler``. For each circuit the table
shows the two-qubit gates (``cz``) and MOVEs of each result and the best wall time of the whole
``transpile_to_IQM`` call over ``--repeat`` runs in each of ``--rounds`` rounds (the two sides take
turns, so a busy machine slows both alike), side by side with the ratios (ours / IQM's).
Our results are checked against the ideal distribution (MOVE simulated as a SWAP) before timing.

IQM's side runs in a subprocess with IQM's client 36 (its own venv and its own Qiskit, as
``benchmarks/batch.py`` does); without ``--baseline-python`` only our columns are printed.

Usage::

    python benchmarks/transpile.py [--quick] [--repeat 5] [--baseline-python /work/iqmvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
import types
from typing import Any

import numpy as np
from qiskit import QuantumCircuit, qasm2, transpile
from qiskit.circuit.library import QFTGate
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Statevector

from iqm_async.qiskit_convert import qubit_names
from iqm_async.server.chip import build_dqa
from iqm_async.server.config import ServerConfig
from iqm_async.transpiler import build_target, transpile_to_IQM

SEED = 7


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(1, n):
        qc.cx(0, i)
    return qc


def qft(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(range(n))
    qc.append(QFTGate(n), range(n))
    return qc


def workload(quick: bool) -> list[tuple[str, int, QuantumCircuit]]:
    """Return ``(label, chip qubits, circuit)``: GHZ, QFT and random circuits on the 6+1 and 16+1 stars."""
    out: list[tuple[str, int, QuantumCircuit]] = []
    for chip, sizes in ((6, (4, 6)), (16, (10, 16))):
        for n in sizes:
            out.append((f"ghz{n}", chip, ghz(n)))
            out.append((f"qft{n}", chip, qft(n)))
        seeds = range(2) if quick else range(4)
        for s in seeds:
            n = min(chip, 5 if chip == 6 else 12)
            out.append((f"rand{n}-{s}", chip, random_circuit(n, 8 if chip == 6 else 12, max_operands=2, seed=s)))
    circuits = []
    for label, chip, qc in out:
        plain = transpile(qc, basis_gates=["u", "cx"], optimization_level=0)
        plain.measure_all()
        circuits.append((label, chip, plain))
    return circuits


def star_backend(n: int) -> Any:
    """A stand-in backend: ``transpile_to_IQM`` only needs its target."""
    dqa = build_dqa(ServerConfig(qubits=n, layout="star"))
    return types.SimpleNamespace(target=build_target(dqa, qubit_names(dqa)))


def check(original: QuantumCircuit, routed: QuantumCircuit) -> float:
    """Return the largest probability difference between the routed circuit (MOVE as SWAP) and the original."""
    bare = original.remove_final_measurements(inplace=False)
    ideal = Statevector(bare).probabilities()
    sim = QuantumCircuit(routed.num_qubits)
    for inst in routed.data:
        name = inst.operation.name
        if name == "move":
            sim.swap(*[routed.find_bit(q).index for q in inst.qubits])
        elif name not in ("measure", "barrier"):
            sim.append(inst.operation, [routed.find_bit(q).index for q in inst.qubits])
    probs = Statevector(sim).probabilities()
    final = routed.layout.final_index_layout()[: bare.num_qubits]
    got = np.zeros_like(ideal)
    for index, p in enumerate(probs):
        got[sum(((index >> phys) & 1) << v for v, phys in enumerate(final))] += p
    return float(np.abs(got - ideal).max())


def run_ours(circuits: list[tuple[str, int, QuantumCircuit]], repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    backends = {chip: star_backend(chip) for chip in {c for _, c, _ in circuits}}
    for label, chip, qc in circuits:
        key = f"{label}@{chip}+1"
        routed = transpile_to_IQM(qc, backends[chip], seed_transpiler=SEED)
        error = check(qc, routed) if qc.num_qubits <= 12 else 0.0
        if error > 1e-6:
            raise AssertionError(f"{key}: the routed circuit is wrong (max probability error {error:.2e})")
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            transpile_to_IQM(qc, backends[chip], seed_transpiler=SEED)
            times.append(time.perf_counter() - start)
        ops = routed.count_ops()
        results[key] = {"cz": ops.get("cz", 0), "move": ops.get("move", 0), "s": min(times)}
    return results


IQM_CHILD = r"""
import json, sys, time, uuid, warnings
warnings.simplefilter("ignore")
from qiskit import qasm2
from iqm.qiskit_iqm import transpile_to_IQM
from iqm.qiskit_iqm.iqm_backend import IQMBackendBase
from iqm.station_control.interface.models import DynamicQuantumArchitecture

class Star(IQMBackendBase):
    def run(self, *a, **k):
        raise NotImplementedError
    @classmethod
    def _default_options(cls):
        from qiskit.providers import Options
        return Options()
    @property
    def max_circuits(self):
        return None

def backend(n):
    qubits = [f"QB{i}" for i in range(1, n + 1)]
    pairs = [[q, "COMP_R"] for q in qubits]
    single = [[q] for q in qubits]
    def gate(loci):
        return {"implementations": {"x": {"loci": loci}}, "default_implementation": "x",
                "override_default_implementation": {}}
    gates = {"prx": gate(single), "cz": gate(pairs), "move": gate(pairs), "measure": gate(single)}
    dqa = DynamicQuantumArchitecture(calibration_set_id=uuid.uuid4(), qubits=qubits,
                                     computational_resonators=["COMP_R"], gates=gates)
    return Star(dqa)

spec = json.loads(sys.stdin.read())
backends = {}
out = {}
for item in spec["circuits"]:
    chip = item["chip"]
    b = backends.setdefault(chip, backend(chip))
    qc = qasm2.loads(item["qasm"], custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    routed = transpile_to_IQM(qc, b, seed_transpiler=spec["seed"])
    times = []
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        transpile_to_IQM(qc, b, seed_transpiler=spec["seed"])
        times.append(time.perf_counter() - start)
    ops = routed.count_ops()
    out[item["key"]] = {"cz": ops.get("cz", 0), "move": ops.get("move", 0), "s": min(times)}
print(json.dumps(out))
"""


def run_iqm(python: str, circuits: list[tuple[str, int, QuantumCircuit]], repeat: int) -> dict[str, dict[str, float]]:
    spec = {
        "seed": SEED,
        "repeat": repeat,
        "circuits": [
            {"key": f"{label}@{chip}+1", "chip": chip, "qasm": qasm2.dumps(qc)} for label, chip, qc in circuits
        ],
    }
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(IQM_CHILD)], input=json.dumps(spec), capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"IQM transpile_to_IQM failed:\n{proc.stderr[-3000:]}")
    result: dict[str, dict[str, float]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def merge(best: dict[str, dict[str, float]], new: dict[str, dict[str, float]]) -> None:
    """Keep the faster time of each circuit across rounds (the counts are the same every round)."""
    for key, row in new.items():
        if key not in best or row["s"] < best[key]["s"]:
            best[key] = row


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("1.00" if a == b else "inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer random circuits and repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per circuit and round (5; quick 2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds in which the two sides take turns (default 2)")
    parser.add_argument("--baseline-python", default=None, help="interpreter with IQM's iqm-client 36 installed")
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 5)
    circuits = workload(args.quick)
    ours: dict[str, dict[str, float]] = {}
    iqm: dict[str, dict[str, float]] = {}
    for _ in range(max(1, args.rounds)):
        merge(ours, run_ours(circuits, repeat))
        if args.baseline_python:
            merge(iqm, run_iqm(args.baseline_python, circuits, repeat))

    header = f"{'circuit':<16}{'cz ours':>8}{'cz IQM':>8}{'MOVE ours':>11}{'MOVE IQM':>10}{'ratio':>7}"
    header += f"{'ms ours':>10}{'ms IQM':>9}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    move_ratios, time_ratios = [], []
    for key, mine in ours.items():
        base = iqm.get(key)
        line = f"{key:<16}{mine['cz']:>8}"
        if base is None:
            line += f"{'-':>8}{mine['move']:>11}{'-':>10}{'-':>7}{mine['s'] * 1e3:>10.1f}{'-':>9}{'-':>7}"
        else:
            line += f"{base['cz']:>8}{mine['move']:>11}{base['move']:>10}{ratio(mine['move'], base['move']):>7}"
            line += f"{mine['s'] * 1e3:>10.1f}{base['s'] * 1e3:>9.1f}{ratio(mine['s'], base['s']):>7}"
            move_ratios.append((mine["move"], base["move"]))
            time_ratios.append(mine["s"] / base["s"])
        print(line)
    print("-" * len(header))
    total_ours = sum(m["move"] for m in ours.values())
    if iqm:
        total_iqm = sum(b for _, b in move_ratios)
        geo = float(np.exp(np.mean(np.log(time_ratios))))
        print(
            f"MOVEs in total: ours {total_ours}, IQM {total_iqm} (ratio {ratio(total_ours, total_iqm)}); "
            f"fewer or equal on {sum(a <= b for a, b in move_ratios)}/{len(move_ratios)} circuits"
        )
        print(f"transpile time: geometric mean of the ratios ours/IQM {geo:.2f}")
    else:
        print(f"MOVEs in total: ours {total_ours} (pass --baseline-python for IQM's figures)")
    print(
        f"(best of {repeat} runs x {args.rounds} alternating rounds per circuit; "
        f"Qiskit {sys.modules['qiskit'].__version__} for ours, IQM's venv has its own)"
    )


if __name__ == "__main__":
    main()
