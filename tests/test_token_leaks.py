"""The bearer token appears nowhere a user or a CI log can see it, however an error is rendered.

``tests/test_security.py`` searches logs, messages and reprs. This module goes where a careful leak
hunt goes next, for errors out of the core and the facade alike:

* tracebacks rendered with the locals of every frame, as ``pytest -l`` (pytest's own renderer) and
  ``traceback.TracebackException(capture_locals=True)`` (what rich's ``show_locals`` and Sentry-style
  reporters do) show them;
* every exception in the cause/context chain and inside exception groups, its ``vars()``, and the
  request and response an httpx exception carries (``exc.__cause__.request.headers``);
* pickles of every exception (what a process pool or a task queue does with an error);
* ``vars()`` of the provider, backend, client, transport and token source, and pickling them.
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _pytest._code import ExceptionInfo
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, RetryPolicy
from iqm_async._auth import TokenProvider
from iqm_async.errors import IQMError
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMProvider

TOKEN = "iqm-LEAKCHECK-5f2a9c7e1b3d4f6a8c0e2b4d6f8a1c3e"
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)


@pytest.fixture(scope="module")
def secured() -> Iterator[RunningServer]:
    with serve_in_thread(ServerConfig(seed=3, tokens=frozenset({TOKEN}))) as running:
        yield running


def circuit() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    return qc


def chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``exc``: causes, contexts and members of exception groups."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += list(getattr(current, "exceptions", ()))


def renderings(exc: BaseException) -> list[str]:
    """Every way a user, a CI log or an error reporter may see ``exc``."""
    texts = [
        "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format()),
        str(ExceptionInfo.from_exception(exc).getrepr(showlocals=True, style="long", chain=True)),
    ]
    for member in chain(exc):
        texts += [str(member), repr(member), repr(member.args), repr(getattr(member, "__dict__", {}))]
        for attr in ("request", "response"):
            try:
                message = getattr(member, attr, None)  # httpx raises RuntimeError when it was never set
            except RuntimeError:
                continue
            if message is not None:
                texts += [repr(message), repr(dict(message.headers)), repr(message.headers.raw)]
        try:
            texts.append(repr(pickle.dumps(member)))
        except Exception as pickling:  # an exception that cannot be pickled shows nothing either
            texts.append(repr(pickling))
    return texts


def raised(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the point is what any error shows
        call()
    return info.value


async def raised_async(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011
        await call()
    return info.value


def assert_clean(exc: BaseException) -> None:
    texts = renderings(exc)
    assert len("".join(texts)) > 500, "nothing was rendered"
    for text in texts:
        assert TOKEN not in text, f"the token leaked through {type(exc).__name__}"


async def test_core_errors_show_no_token_however_rendered(secured: RunningServer, free_port: int) -> None:
    secured.state.reset()
    errors: list[BaseException] = []
    async with AsyncIQMClient(secured.url, token=TOKEN, retry=FAST) as client:
        job = await client.submit(circuit(), shots=4)
        assert (await job.result_async(timeout_seconds=30)).get_counts() == {"0": 4}
        errors.append(await raised_async(lambda: client.job(UNKNOWN_JOB).status_async()))
        secured.state.faults.add({"match": {"method": "POST", "path": "*/circuit"}, "action": "drop"})
        errors.append(await raised_async(lambda: client.submit(circuit(), shots=4)))
        secured.state.faults.add({"action": "status", "status": 500, "times": None})
        errors.append(await raised_async(lambda: client.job(job.job_id).status_async()))
        secured.state.faults.clear()
        secured.state.faults.add({"match": {"method": "GET", "path": "*/payload"}, "action": "drop", "times": None})
        errors.append(await raised_async(lambda: client.job(job.job_id).definition_async()))
        secured.state.faults.clear()
        for name, value in vars(client).items():
            assert TOKEN not in repr(value), f"client.{name}"
        for obj in (client.transport, client._tokens):
            assert TOKEN not in repr(vars(obj) if hasattr(obj, "__dict__") else obj)
        assert_unpicklable_or_clean(client._tokens)
    # Nothing listens on this port: the connection is refused (the error chain ends in httpx's ConnectError).
    async with AsyncIQMClient(f"http://127.0.0.1:{free_port}", token=TOKEN, retry=FAST) as nowhere:
        errors.append(await raised_async(nowhere.quantum_computers))
    # Two token sources: refused in the constructor, whose frame held the token.
    errors.append(raised(lambda: AsyncIQMClient(secured.url, token=TOKEN, tokens_file="/nonexistent/tokens.json")))
    errors.append(raised(lambda: TokenProvider(TOKEN, "/nonexistent/tokens.json")))
    errors.append(raised(lambda: AsyncIQMClient("ftp://example.com", token=TOKEN)))
    assert [type(e).__name__ for e in errors] == [
        "NotFoundError",
        "SubmissionUnknownError",
        "InternalSystemError",
        "ConnectError",
        "ServerUnreachableError",
        "ClientConfigurationError",
        "ClientConfigurationError",
        "ClientConfigurationError",
    ]
    assert all(isinstance(e, IQMError) for e in errors)
    for exc in errors:
        assert_clean(exc)


def test_facade_errors_and_objects_show_no_token(secured: RunningServer, free_port: int) -> None:
    secured.state.reset()
    errors: list[BaseException] = []
    provider = IQMProvider(secured.url, token=TOKEN, retry=FAST)
    try:
        backend = provider.get_backend()
        job = backend.run(circuit(), shots=4)
        assert job.result().get_counts() == {"0": 4}
        errors.append(raised(lambda: backend.retrieve_job(UNKNOWN_JOB).status()))
        errors.append(raised(lambda: backend.retrieve_job("job-123")))
        secured.state.faults.add({"action": "status", "status": 500, "times": None})
        errors.append(raised(lambda: backend.retrieve_job(job.job_id()).result()))
        secured.state.faults.clear()
        for obj in (provider, backend, job):
            assert TOKEN not in repr(vars(obj)), type(obj).__name__
            assert_unpicklable_or_clean(obj)
    finally:
        provider.close()
    nowhere = IQMProvider(f"http://127.0.0.1:{free_port}", token=TOKEN, retry=FAST)
    try:
        errors.append(raised(nowhere.get_backend))
    finally:
        nowhere.close()
    assert all(isinstance(e, IQMError) for e in errors), [type(e) for e in errors]
    for exc in errors:
        assert_clean(exc)


def assert_unpicklable_or_clean(obj: object) -> None:
    """Pickling either refuses (a Secret inside) or yields bytes without the token."""
    try:
        data = pickle.dumps(obj)
    except Exception:
        return
    assert TOKEN.encode() not in data


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
