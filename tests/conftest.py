"""Shared fixtures: one embedded IQM server per test session on a free loopback port.

``server`` hands each test the running server after resetting it (jobs, fault rules, rate-limit
state, request log) and releasing any hold, so tests never see each other's jobs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from iqm_async.server import RunningServer, ServerConfig, serve_in_thread

_ENV_VARS = ("IQM_SERVER_URL", "IQM_QUANTUM_COMPUTER", "IQM_TOKEN", "IQM_TOKENS_FILE", "IQM_CLIENT_REQUESTS_TIMEOUT")


@pytest.fixture(autouse=True)
def _clean_iqm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's IQM_* variables from leaking into tests."""
    for var in _ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[RunningServer]:
    """The session's embedded server (seeded, default limits)."""
    with serve_in_thread(ServerConfig(seed=1234)) as running:
        yield running


@pytest.fixture
def server(embedded_server: RunningServer) -> Iterator[RunningServer]:
    """The session's server, reset for this test."""
    embedded_server.state.release()
    embedded_server.state.reset()
    yield embedded_server
    embedded_server.state.release()


def pytest_report_header() -> str:
    """Say which interpreter runs the tests (CI runs in a fresh venv)."""
    return f"iqm-async tests, pid {os.getpid()}"
