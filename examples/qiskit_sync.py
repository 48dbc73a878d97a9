"""Ordinary synchronous Qiskit code on an IQM quantum computer through the facade.

Transpiles a GHZ circuit for the backend, runs it, and prints the counts, the job's status, its
queue position and the timestamps of its timeline.

With IQM_SERVER_URL set, it runs on that IQM server (with IQM_TOKEN / IQM_TOKENS_FILE and
IQM_QUANTUM_COMPUTER as usual); otherwise it starts the embedded IQM-compatible server in this
process and runs there. Switching from IQM's own adapter is the one import below.
"""

from __future__ import annotations

import contextlib
import os
import sys

from qiskit import QuantumCircuit, transpile

from iqm_sync_shim import IQMProvider  # instead of: from iqm.qiskit_iqm import IQMProvider


def ghz(n: int) -> QuantumCircuit:
    """An n-qubit GHZ circuit in ordinary Qiskit gates; transpile() turns it into IQM's."""
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def run(url: str | None, n_qubits: int, shots: int) -> None:
    """Run a GHZ circuit on the server at ``url`` and print what the job reports."""
    with IQMProvider(url) as provider:
        backend = provider.get_backend()
        print(f"backend {backend.name}: {backend.num_qubits} qubits, calibration set {backend.calibration_set_id}")

        circuit = transpile(ghz(n_qubits), backend, seed_transpiler=1)
        print(f"transpiled: {dict(circuit.count_ops())}")

        job = backend.run(circuit, shots=shots)
        print(f"job {job.job_id()}: status {job.status().name}, queue position {job.queue_position(refresh=True)}")

        result = job.result(timeout=600)
        print("counts:", dict(sorted(result.get_counts().items())))
        print(f"status: {job.status().name}, queue position: {job.queue_position()}")
        for step in result.timeline:
            print(f"  {step.timestamp.isoformat()}  {step.source:<20} {step.status}")


def main() -> None:
    """Pick the server (IQM_SERVER_URL or the embedded one) and run."""
    n_qubits = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    shots = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with contextlib.ExitStack() as stack:
        url = os.environ.get("IQM_SERVER_URL")
        if not url:
            from iqm_async.server import serve_in_thread

            server = stack.enter_context(serve_in_thread(seed=42))
            url = server.url
            print(f"embedded IQM server on {url}")
        run(url, n_qubits, shots)


if __name__ == "__main__":
    main()
