"""A 1,000-circuit parameter sweep as one batch: rx(θ) on three qubits, results streamed as jobs finish.

Prints the throughput (circuits per second, jobs, requests, 429s) and a small table of measured
excitation probabilities next to the ideal sin²(angle / 2).

With IQM_SERVER_URL set, it runs on that IQM server (IQM_TOKEN / IQM_TOKENS_FILE and
IQM_QUANTUM_COMPUTER as usual); otherwise it starts the embedded IQM-compatible server in this
process, with its default rate limit, and runs there. Usage::

    python examples/batch_sweep.py [circuits] [shots] [journal.jsonl]

With a journal file, an interrupted sweep continues with ``client.resume_batch(journal, circuits=...)``
(see the end of this file) without submitting any job twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient

QUBITS = 3
"""Qubits per circuit: three sweeps (θ, θ/2, 2θ) in one circuit."""


def sweep_circuit(theta: float, index: int) -> QuantumCircuit:
    """rx(θ), rx(θ/2) and rx(2θ) on qubits 0, 1, 2, then measure all (rx is native on IQM chips)."""
    qc = QuantumCircuit(QUBITS, QUBITS, name=f"sweep{index}")
    qc.rx(theta, 0)
    qc.rx(theta / 2, 1)
    qc.rx(2 * theta, 2)
    qc.measure(range(QUBITS), range(QUBITS))
    qc.metadata = {"theta": theta}
    return qc


def excited(counts: dict[str, int], qubit: int) -> float:
    """Probability that ``qubit`` was measured 1 (bit strings are little-endian: qubit 0 is rightmost)."""
    shots = sum(counts.values())
    return sum(n for bits, n in counts.items() if bits[-1 - qubit] == "1") / shots


async def run(url: str | None, n: int, shots: int, journal: str | None) -> None:
    """Run the sweep as one batch and print throughput and a table."""
    thetas = [2 * math.pi * i / (n - 1) for i in range(n)]
    circuits = [sweep_circuit(t, i) for i, t in enumerate(thetas)]
    async with AsyncIQMClient(url) as client:
        started = time.monotonic()
        first_result = None
        async with client.run_batch(circuits, shots=shots, journal=journal) as batch:
            async for outcome in batch.as_completed():
                if first_result is None:
                    first_result = time.monotonic() - started
                outcome.result()  # raises this circuit's error, if it has one
            results = await batch.results()
        elapsed = time.monotonic() - started
        transport = client.transport
        print(
            f"{n} circuits × {shots} shots in {len(batch.job_ids)} jobs: {elapsed:.1f} s "
            f"({n / elapsed:.0f} circuits/s), first results after {first_result:.1f} s; "
            f"{transport.requests_sent} requests, {transport.rate_limited} answered 429"
        )
    print()
    ideal = f"{'ideal':>6}"
    print(f"{'θ':>7}  {'P1(q0) rx(θ)':>13} {ideal}  {'P1(q1) rx(θ/2)':>15} {ideal}  {'P1(q2) rx(2θ)':>14} {ideal}")
    for i in sorted({round(k * (n - 1) / 10) for k in range(11)}):  # 11 rows from θ = 0 to 2π
        t, counts = thetas[i], results[i].counts
        row = [(excited(counts, q), math.sin(angle / 2) ** 2) for q, angle in enumerate((t, t / 2, 2 * t))]
        print(
            f"{t:7.3f}  {row[0][0]:13.3f} {row[0][1]:6.3f}  {row[1][0]:15.3f} {row[1][1]:6.3f}  "
            f"{row[2][0]:14.3f} {row[2][1]:6.3f}"
        )


def main() -> None:
    """Pick the server (IQM_SERVER_URL or the embedded one) and run."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    shots = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    journal = sys.argv[3] if len(sys.argv) > 3 else None
    with contextlib.ExitStack() as stack:
        url = os.environ.get("IQM_SERVER_URL")
        if not url:
            from iqm_async.server import serve_in_thread

            server = stack.enter_context(serve_in_thread(seed=42))
            url = server.url
            print(f"embedded IQM server on {url} (default rate limit: 2000 units / 10 s)")
        anyio.run(run, url, n, shots, journal)


# To continue an interrupted sweep from its journal in a new process (nothing is submitted twice):
#
#     async with AsyncIQMClient(url) as client:
#         results = await client.resume_batch("sweep.jsonl", circuits=circuits).results()

if __name__ == "__main__":
    main()
