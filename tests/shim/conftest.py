"""Fixtures of the facade tests: a loopback server for the session, and providers built by plain ``def`` tests.

Shim tests are plain ``def`` tests on purpose (the test loop is not the portal loop): the
provider's client must belong to the shim's portal loop, never to a pytest event loop. Nothing here
waits on the wall clock; jobs are held in the queue with the server's ``hold()`` and released.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from iqm_async import PollPolicy, RateLimitPolicy
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMBackend, IQMProvider, _runner

ROOT = Path(__file__).resolve().parents[2]

FAST_POLL = PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1)
"""Polling for tests: a released job's result arrives within ~0.1 s instead of up to the 10 s cap."""

NO_BUDGET = RateLimitPolicy(enabled=False)
"""The test server does not rate-limit, but still sends ``RateLimit-*`` headers; without this the client
would pace itself against its own fast polling (see the facade report)."""

CLIENT_OPTIONS = {"poll": FAST_POLL, "rate_limit": NO_BUDGET}
"""Keyword arguments of every test provider."""


@pytest.fixture(scope="session", autouse=True)
def _close_global_runner() -> Iterator[None]:
    """Shut the process-wide portal down at the end of the session (the exit hook then has nothing to do)."""
    yield
    runner = _runner._runner
    if runner is not None:
        runner.close()


@pytest.fixture(scope="session")
def shim_server() -> Iterator[RunningServer]:
    """One seeded loopback server for all facade tests; no rate limiting, so 32 parallel jobs are not paced."""
    with serve_in_thread(ServerConfig(seed=4321, rate_limit=RateLimitConfig(enabled=False))) as running:
        yield running


@pytest.fixture
def srv(shim_server: RunningServer) -> Iterator[RunningServer]:
    """The session's server, reset for this test and released afterwards."""
    shim_server.state.release()
    shim_server.state.reset()
    yield shim_server
    shim_server.state.release()


@pytest.fixture(scope="module")
def provider(shim_server: RunningServer) -> Iterator[IQMProvider]:
    """A provider for this module, closed deterministically at its end."""
    with IQMProvider(shim_server.url, **CLIENT_OPTIONS) as p:
        yield p


@pytest.fixture(scope="module")
def backend(provider: IQMProvider) -> IQMBackend:
    """The backend of the default calibration set."""
    return provider.get_backend()


@pytest.fixture
def bell() -> QuantumCircuit:
    """A Bell circuit in native gates on QB1 and QB2 (which are coupled on the lattice)."""
    from math import pi

    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(pi / 2, pi / 2, 0)  # Hadamard up to a phase: |0> -> |+>
    qc.r(pi / 2, pi / 2, 1)
    qc.cz(0, 1)
    qc.r(-pi / 2, pi / 2, 1)  # back to the Z basis on the target: CNOT = H·CZ·H
    qc.measure([0, 1], [0, 1])
    return qc


def run_script(code: str, *args: str, timeout: float = 60, python_flags: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """Start ``python -c code args…`` with this interpreter and the repository on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IQM_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, *python_flags, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
