"""Run a Bell circuit with the async core and print its counts.

With IQM_SERVER_URL set, it runs on that IQM server (and IQM_TOKEN / IQM_QUANTUM_COMPUTER as usual);
otherwise it starts the embedded IQM-compatible server in this process and runs there.
"""

from __future__ import annotations

import contextlib
import math
import os

import anyio
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient


def bell() -> QuantumCircuit:
    """A Bell pair written in IQM's native gates (r and cz)."""
    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(math.pi / 2, math.pi / 2, 0)
    qc.r(math.pi / 2, math.pi / 2, 1)
    qc.cz(0, 1)
    qc.r(-math.pi / 2, math.pi / 2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


async def run(url: str | None) -> None:
    async with AsyncIQMClient(url) as client:
        job = await client.submit(bell(), shots=1000)
        print(f"job {job.job_id} submitted to {await client.backend_name()}")
        result = await job.result_async(timeout_seconds=300)
        print("counts:", dict(sorted(result.get_counts().items())))


def main() -> None:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("IQM_SERVER_URL")
        if not url:
            from iqm_async.server import serve_in_thread

            server = stack.enter_context(serve_in_thread(seed=42))
            url = server.url
            print(f"embedded IQM server on {url}")
        anyio.run(run, url)


if __name__ == "__main__":
    main()
