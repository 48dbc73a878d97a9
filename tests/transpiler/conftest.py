"""Fixtures of the star-chip tests: a 6+1 and a 16+1 star served by the embedded server, and their backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iqm_async import PollPolicy, RateLimitPolicy
from iqm_async.server import RateLimitConfig, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMBackend, IQMProvider, _runner

CLIENT_OPTIONS = {
    "poll": PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1),
    "rate_limit": RateLimitPolicy(enabled=False),
}


@pytest.fixture(scope="module", autouse=True)
def _close_portal() -> Iterator[None]:
    """Close the facade's portal loop after the module, as the facade tests do."""
    yield
    if _runner._runner is not None:
        _runner._runner.close()


def _star(qubits: int, seed: int) -> Iterator[IQMBackend]:
    config = ServerConfig(qubits=qubits, layout="star", seed=seed, rate_limit=RateLimitConfig(enabled=False))
    with serve_in_thread(config) as server, IQMProvider(server.url, **CLIENT_OPTIONS) as provider:
        yield provider.get_backend()


@pytest.fixture(scope="module")
def star6() -> Iterator[IQMBackend]:
    """The backend of a 6+1 star chip (QB1…QB6 around COMP_R)."""
    yield from _star(6, 61)


@pytest.fixture(scope="module")
def star16() -> Iterator[IQMBackend]:
    """The backend of a 16+1 star chip (QB1…QB16 around COMP_R)."""
    yield from _star(16, 161)


@pytest.fixture(scope="module")
def crystal() -> Iterator[IQMBackend]:
    """The backend of the default 20-qubit square lattice."""
    config = ServerConfig(seed=7, rate_limit=RateLimitConfig(enabled=False))
    with serve_in_thread(config) as server, IQMProvider(server.url, **CLIENT_OPTIONS) as provider:
        yield provider.get_backend()
