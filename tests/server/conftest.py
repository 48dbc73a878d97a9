"""Fixtures of the server tests: one loopback server per session, reset before every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iqm_async.server import RateLimitConfig, RunningServer, ServerState, serve_in_thread

# The suite runs with --import-mode=importlib, which puts no test directory on sys.path; the wire
# builders in srvkit.py are shared by several test modules, so make this directory importable.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """The shared server: 20-qubit square chip, fixed seed, no rate limit (tests send many requests)."""
    with serve_in_thread(seed=1234, rate_limit=RateLimitConfig(enabled=False)) as running:
        yield running


@pytest.fixture
def state(server: RunningServer) -> ServerState:
    """The shared server's control object, reset (no jobs, rules, log or hold) for this test."""
    server.state.reset()
    return server.state


@pytest.fixture
def client(server: RunningServer, state: ServerState) -> Iterator[httpx.Client]:
    """An httpx client for the shared server."""
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


@pytest.fixture(scope="module")
def slow_server() -> Iterator[RunningServer]:
    """A server whose circuits take 0.1 s each, so a job can be seen (and cancelled) while processing."""
    with serve_in_thread(seed=99, exec_time_per_circuit=0.1, rate_limit=RateLimitConfig(enabled=False)) as running:
        yield running


@pytest.fixture
def slow_client(slow_server: RunningServer) -> Iterator[httpx.Client]:
    """A client for the slow server, which is reset first."""
    slow_server.state.reset()
    with httpx.Client(base_url=slow_server.url, timeout=10.0) as c:
        yield c
