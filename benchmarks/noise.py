"""Calibrated noise: GHZ-n fidelity on a noisy Garnet-shaped embedded server, predicted from the metrics, and the
same circuits through the local ``IQMFakeGarnet``.

For each n = 2..10 the GHZ state is prepared on the qubits the calibration-aware transpiler picks
(``get_backend(use_metrics=True)``), and its fidelity is measured as IQM's GHZ benchmarks do:
``F = (P(0…0) + P(1…1)) / 2 + C / 2``, where the coherence ``C`` comes from parity oscillations
(2n circuits measuring each qubit in the basis ``cos φ X + sin φ Y`` with ``φ = kπ/n``). The baseline is
the fidelity the metrics predict to first order: the product of each gate's process fidelity over the
prepared circuit, times the readout factors (populations lose ``Π(1 - ē)``, parities ``Π(1 - e₀₁ - e₁₀)``).
The table puts side by side the server's and the fake's measured fidelity (and their difference in units
of the combined shot noise), the prediction, and the simulation time per shot of each.

Usage::

    python benchmarks/noise.py [--quick] [--shots 4000]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit, transpile

from iqm_async.server import RateLimitConfig, serve_in_thread
from iqm_sync_shim import IQMProvider
from iqm_sync_shim.fake_backends import IQMFakeGarnet

SEED = 7


def ghz(n: int) -> QuantumCircuit:
    """Return the GHZ-n preparation (no measurement) as a chain of CNOTs."""
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    return qc


def fidelity_circuits(n: int) -> list[QuantumCircuit]:
    """Return the population circuit and the 2n parity circuits of GHZ-n."""
    population = ghz(n)
    population.measure_all()
    out = [population]
    for k in range(2 * n):
        phi = k * math.pi / n
        qc = ghz(n)
        for q in range(n):
            qc.rz(-phi, q)
            qc.h(q)
        qc.measure_all()
        out.append(qc)
    return out


def measured_fidelity(counts: Sequence[Mapping[str, int]], n: int) -> tuple[float, float]:
    """Return the GHZ fidelity from the population and parity counts, and its shot-noise standard error."""
    pop = counts[0]
    shots = sum(pop.values())
    p = (pop.get("0" * n, 0) + pop.get("1" * n, 0)) / shots
    parities = []
    for c in counts[1:]:
        total = sum(c.values())
        parities.append(sum((-1) ** bits.count("1") * v for bits, v in c.items()) / total)
    coherence = abs(sum((-1) ** k * parities[k] for k in range(2 * n))) / (2 * n)
    var_p = p * (1 - p) / shots
    var_c = sum((1 - x * x) / sum(c.values()) for x, c in zip(parities, counts[1:], strict=True)) / (2 * n) ** 2
    return p / 2 + coherence / 2, math.sqrt(var_p + var_c) / 2


def predicted_fidelity(circuit: QuantumCircuit, backend: Any, n: int) -> float:
    """Return the metrics' first-order GHZ fidelity for a transpiled preparation on ``backend``."""
    target, metrics = backend.target, backend.metrics
    process = 1.0
    used: set[int] = set()
    for inst in circuit.data:
        name = inst.operation.name
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        used.update(qargs)
        if name in ("barrier", "measure") or name not in target.operation_names:
            continue
        props = target[name].get(qargs)
        if props is not None and props.error is not None:
            d = 2 ** len(qargs)
            process *= 1 - props.error * (d + 1) / d
    names = [backend.index_to_qubit_name(q) for q in sorted(used)]
    errors = [metrics.readout_errors[q] for q in names]
    population = math.prod(1 - (e0 + e1) / 2 for e0, e1 in errors)
    parity = math.prod(1 - e0 - e1 for e0, e1 in errors)
    return process * (population + parity) / 2


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 2..5 and 1000 shots")
    parser.add_argument("--shots", type=int, default=4000)
    args = parser.parse_args()
    sizes = range(2, 6) if args.quick else range(2, 11)
    shots = 1000 if args.quick else args.shots
    fake = IQMFakeGarnet()
    rows = []
    with (
        serve_in_thread(chip="garnet", noise="calibrated", seed=SEED, rate_limit=RateLimitConfig(enabled=False)) as srv,
        IQMProvider(srv.url, quantum_computer="garnet") as provider,
    ):
        backend = provider.get_backend(use_metrics=True)
        for n in sizes:
            prep = transpile(ghz(n), backend, seed_transpiler=SEED, optimization_level=3)
            layout = prep.layout.final_index_layout() if prep.layout is not None else list(range(n))
            circuits = [
                transpile(c, backend, initial_layout=layout, seed_transpiler=SEED, optimization_level=1)
                for c in fidelity_circuits(n)
            ]
            t0 = time.perf_counter()
            server_counts = backend.run(circuits, shots=shots).result().get_counts()
            t_server = time.perf_counter() - t0
            t0 = time.perf_counter()
            fake_counts = fake.run(circuits, shots=shots, seed_simulator=SEED + 1).result().get_counts()
            t_fake = time.perf_counter() - t0
            f_server, s_server = measured_fidelity(server_counts, n)
            f_fake, s_fake = measured_fidelity(fake_counts, n)
            sigma = (f_server - f_fake) / math.hypot(s_server, s_fake)
            total_shots = shots * len(circuits)
            rows.append(
                (
                    n,
                    f_server,
                    s_server,
                    f_fake,
                    sigma,
                    predicted_fidelity(prep, backend, n),
                    1e6 * t_server / total_shots,
                    1e6 * t_fake / total_shots,
                )
            )
    print(
        f"GHZ-n fidelity on a Garnet-shaped chip, calibrated noise, {shots} shots per circuit "
        f"(server seed {SEED}, fake seed {SEED + 1})"
    )
    header = (
        f"{'n':>3} | {'server F':>12} | {'fake F':>8} | {'diff/σ':>7} | {'predicted F':>11} | "
        f"{'server/pred':>11} | {'server µs/shot':>14} | {'fake µs/shot':>12}"
    )
    print(header)
    print("-" * len(header))
    for n, fs, ss, ff, sig, fp, ts, tf in rows:
        print(
            f"{n:>3} | {fs:.3f} ± {ss:.3f} | {ff:>8.3f} | {sig:>+7.2f} | {fp:>11.3f} | {fs / fp:>11.3f} | "
            f"{ts:>14.1f} | {tf:>12.1f}"
        )


if __name__ == "__main__":
    main()
