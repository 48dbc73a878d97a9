"""Errors and warnings that tell the user what to do next, end to end against the embedded server.

* a blocking facade call on a thread that runs an event loop warns once, naming the ``*_async`` method
  (not inside IPython, whose loop runs notebook cells);
* ``cancel()`` after the provider was closed returns False with a warning, like any failed cancel;
* a 401 names the token source used (never the token) and how to give another;
* a legacy Cocos URL gets the root URL and quantum computer to use, in one step;
* ``http://127.1`` is loopback (the OS connects to it as 127.0.0.1);
* a circuit without measurements is refused with a hint at ``measure_all()``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sys
import threading
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient
from iqm_async.errors import AuthenticationError, CircuitValidationError, ClientConfigurationError
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMProvider, _runner

from .conftest import CLIENT_OPTIONS

TOKEN = "iqm-HINTS-0123456789abcdef0123456789abcdef"


def bell() -> QuantumCircuit:
    """A Bell pair in the chip's native gates (the facade runs transpiled circuits, as IQM's does)."""
    qc = QuantumCircuit(2, 2)
    qc.r(math.pi / 2, math.pi / 2, 0)
    qc.r(math.pi / 2, math.pi / 2, 1)
    qc.cz(0, 1)
    qc.r(math.pi / 2, -math.pi / 2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def jwt(payload: dict[str, object]) -> str:
    """An unsigned JWT (the client reads only its claims)."""

    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}.sig"


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-process warning as if for the first time."""
    monkeypatch.setattr(_runner, "_warned_blocking", False)


@pytest.fixture(scope="module")
def secured() -> Iterator[RunningServer]:
    with serve_in_thread(ServerConfig(seed=5, tokens=frozenset({TOKEN}))) as running:
        yield running


# ------------------------------------------------------------------ blocking calls on a loop's thread


def test_a_blocking_call_inside_a_running_loop_warns_once_naming_the_async_method(
    server: RunningServer, fresh_warning: None
) -> None:
    with IQMProvider(server.url, **CLIENT_OPTIONS) as provider:
        job = provider.get_backend().run(bell(), shots=10)

        async def handler() -> list[warnings.WarningMessage]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                counts = job.result().get_counts()  # blocks this loop: works, but warns
                assert sum(counts.values()) == 10
                job.status()  # a second blocking call: no second warning
            return caught

        caught = asyncio.run(handler())
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert "IQMJob.result() blocks this thread, which runs an event loop" in messages[0]
    assert "use `await job.result_async(...)` instead" in messages[0]
    assert caught[0].filename == __file__, "the warning points at the user's line"


def test_no_warning_outside_a_loop_or_inside_ipython(
    server: RunningServer, fresh_warning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with IQMProvider(server.url, **CLIENT_OPTIONS) as provider:
        backend = provider.get_backend()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            backend.run(bell(), shots=4).result()  # a plain thread: nothing to warn about
            fake_ipython = types.ModuleType("IPython")
            fake_ipython.get_ipython = lambda: object()  # type: ignore[attr-defined]
            monkeypatch.setitem(sys.modules, "IPython", fake_ipython)

            async def cell() -> None:
                backend.run(bell(), shots=4).result()

            asyncio.run(cell())  # a notebook cell: blocking calls are how notebooks are written
    assert _runner._warned_blocking is False


# ------------------------------------------------------------------ cancel after close


def test_cancel_after_the_provider_was_closed_returns_false_with_a_warning(server: RunningServer) -> None:
    server.state.hold()
    provider = IQMProvider(server.url, **CLIENT_OPTIONS)
    job = provider.get_backend().run(bell(), shots=4)
    provider.close()
    with pytest.warns(UserWarning, match=f"Failed to cancel job {job.job_id()}.*closed"):
        assert job.cancel() is False
    server.state.release()


# ------------------------------------------------------------------ 401: which token, and how to fix it


async def test_a_401_names_the_token_source_and_how_to_set_one(
    secured: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases: list[tuple[dict[str, object], str]] = []
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"access_token": jwt({"exp": time.time() + 3600, "sub": "STALE"})}))
    cases.append(({"tokens_file": tokens}, f"tokens_file {tokens}"))
    cases.append(({"token": "iqm-WRONG-eeeeeeeeeeeeeeeeeeeeeeeeeeee"}, "from token"))
    cases.append(({}, "No token was sent"))
    for kwargs, source in cases:
        async with AsyncIQMClient(secured.url, **kwargs) as client:  # type: ignore[arg-type]
            with pytest.raises(AuthenticationError) as info:
                await client.quantum_computers()
        message = str(info.value)
        assert source in message
        assert "IQM_TOKEN" in message and "IQM_TOKENS_FILE" in message
        assert "STALE" not in message and "WRONG" not in message
    monkeypatch.setenv("IQM_TOKEN", "iqm-ENV-dddddddddddddddddddddddddddd")
    async with AsyncIQMClient(secured.url) as client:
        with pytest.raises(AuthenticationError, match="The token came from IQM_TOKEN"):
            await client.quantum_computers()


# ------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cocos.resonance.meetiqm.com/garnet",
            'IQMProvider("https://resonance.iqm.tech", quantum_computer="garnet")',
        ),
        ("https://cocos.lab.example.org/deneb/", 'IQMProvider("https://lab.example.org", quantum_computer="deneb")'),
        ("https://cocos.resonance.meetiqm.com", 'IQMProvider("https://resonance.iqm.tech")'),
    ],
)
def test_a_legacy_cocos_url_gets_the_url_to_use(url: str, expected: str) -> None:
    with pytest.raises(ClientConfigurationError) as info:
        IQMProvider(url)
    assert expected in str(info.value)
    # The suggestion works as written (its URL and quantum computer pass the client's checks).
    suggested = str(info.value).split("IQM_SERVER_URL=")[1].split(" ")[0].rstrip(").")
    assert suggested.startswith("https://") and "cocos" not in suggested


async def test_127_1_is_loopback(server: RunningServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    async with AsyncIQMClient(f"http://127.1:{port}") as client:
        assert [qc.alias for qc in await client.quantum_computers()]


# ------------------------------------------------------------------ circuits


def test_a_circuit_without_measurements_suggests_measure_all(server: RunningServer) -> None:
    qc = QuantumCircuit(2)
    qc.r(math.pi / 2, 0.0, 0)
    with IQMProvider(server.url, **CLIENT_OPTIONS) as provider:
        with pytest.raises(CircuitValidationError, match=r"no measurements.*measure_all\(\)"):
            provider.get_backend().run(qc, shots=4)
    assert server.state.stats()["jobs_created"] == 0


def test_the_warning_helper_finds_no_loop_in_a_plain_thread() -> None:
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(_runner._thread_runs_a_loop()))
    thread.start()
    thread.join()
    assert seen == [False]
