"""Every input the client refuses, with the error it raises and proof that nothing was sent.

One test (or parametrised case) per row of ``docs/bad-input.md``. Each checks the error class (and a
fragment of its message that tells the user what to do), then the embedded server's request log: no
``POST`` for circuit and option errors (the architecture fetch before validation is allowed), and no
request at all for configuration errors.
"""

from __future__ import annotations

import base64
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from iqm_async import AsyncIQMClient, PollPolicy, RetryPolicy
from iqm_async._config import MAX_SHOTS
from iqm_async.errors import (
    CircuitValidationError,
    ClientConfigurationError,
    NotFoundError,
    ValidationError,
)
from iqm_async.server import RunningServer


def posts(server: RunningServer) -> list[Any]:
    return [r for r in server.state.requests() if r.method == "POST"]


def measured(n: int = 2, name: str = "ok") -> QuantumCircuit:
    qc = QuantumCircuit(n, n, name=name)
    qc.x(0)
    qc.measure(range(n), range(n))
    return qc


@pytest.fixture
async def client(server: RunningServer):
    fast = RetryPolicy(base_delay=0.01, max_delay=0.05)  # whatever goes wrong, no test waits on backoff
    async with AsyncIQMClient(server.url, poll=PollPolicy(first_delay=0.02, max_interval=0.2), retry=fast) as c:
        yield c


# --------------------------------------------------------------------------------------- circuits


def _no_measure() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name="no_measure")
    qc.r(1.0, 0.0, 0)
    return qc


def _hadamard() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="bell_h")
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    return qc


def _too_wide() -> QuantumCircuit:
    qc = QuantumCircuit(25, 25, name="wide")
    qc.measure(range(25), range(25))
    return qc


def _uncoupled_cz() -> QuantumCircuit:
    qc = QuantumCircuit(20, 2, name="far")
    qc.cz(0, 19)  # QB1 and QB20 are opposite corners of the 4 x 5 lattice
    qc.measure([0, 19], [0, 1])
    return qc


def _duplicate_key() -> QuantumCircuit:
    qc = QuantumCircuit(2, 1, name="dup")
    qc.measure(0, 0)
    qc.measure(1, 0)  # the same clbit twice: both measures get the key c_1_0_0
    return qc


def _unbound_parameter() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name="param")
    qc.rx(Parameter("theta"), 0)
    qc.measure(0, 0)
    return qc


def _two_bit_condition() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="cond2")
    qc.measure([0, 1], [0, 1])
    with qc.if_test((qc.cregs[0], 3)):
        qc.x(0)
    return qc


def _cz_in_if() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="cond_cz")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.cz(0, 1)
    qc.measure(1, 1)
    return qc


CIRCUIT_CASES: list[tuple[str, Callable[[], Any], dict[str, Any], str]] = [
    # (id, circuits, submit kwargs, message fragment)
    ("empty list", list, {}, "at least one circuit"),
    ("not a circuit", lambda: ["bell"], {}, "not a QuantumCircuit"),
    ("no instructions", lambda: QuantumCircuit(1, 1, name="empty"), {}, "has no instructions"),
    ("no measurements", _no_measure, {}, "no measurements"),
    ("unsupported gate", _hadamard, {}, "transpile the circuit"),
    ("more qubits than the chip", _too_wide, {}, "Transpile the circuit"),
    ("qubit not on the chip", lambda: measured(2), {"qubit_names": ["QB99", "QB1"]}, "QB99 is not a component"),
    ("uncoupled two-qubit gate", _uncoupled_cz, {}, "is not a coupled pair"),
    ("duplicate measurement keys", _duplicate_key, {}, "already used in this circuit"),
    ("unbound parameter", _unbound_parameter, {}, "assign_parameters"),
    ("if_test on two bits", _two_bit_condition, {}, "single bit"),
    ("cz inside if_test", _cz_in_if, {}, "can be classically controlled"),
    ("shots 0", lambda: measured(), {"shots": 0}, "shots must be a positive integer"),
    ("shots negative", lambda: measured(), {"shots": -5}, "shots must be a positive integer"),
    ("shots float", lambda: measured(), {"shots": 1.5}, "shots must be a positive integer"),
    ("shots bool", lambda: measured(), {"shots": True}, "shots must be a positive integer"),
    ("shots string", lambda: measured(), {"shots": "100"}, "shots must be a positive integer"),
    ("unknown option", lambda: measured(), {"shots": 10, "memory_slots": 4}, "Unknown job option"),
    ("bad heralding_mode", lambda: measured(), {"shots": 10, "heralding_mode": "all"}, "heralding_mode must be one"),
    ("bad dd_mode", lambda: measured(), {"shots": 10, "dd_mode": "on"}, "dd_mode must be one"),
    ("bad qubit_mapping", lambda: measured(), {"shots": 10, "qubit_mapping": {"q": 1}}, "qubit_mapping must map"),
    ("negative T2 ratio", lambda: measured(), {"shots": 10, "max_circuit_duration_over_t2": -1.0}, "non-negative"),
]


@pytest.mark.parametrize(("circuits", "kwargs", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CIRCUIT_CASES])
async def test_circuit_and_option_errors_are_refused_before_posting(
    client: AsyncIQMClient, server: RunningServer, circuits: Callable[[], Any], kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(CircuitValidationError, match=fragment):
        await client.submit(circuits(), **kwargs)
    assert posts(server) == []
    assert server.state.stats()["jobs_created"] == 0


async def test_shots_above_the_maximum_are_refused_before_sending(
    client: AsyncIQMClient, server: RunningServer
) -> None:
    assert server.config.max_shots >= MAX_SHOTS  # the client never sends what the embedded server refuses
    with pytest.raises(CircuitValidationError, match=f"at most {MAX_SHOTS}"):
        await client.submit(measured(), shots=MAX_SHOTS + 1)
    assert posts(server) == []


async def test_shots_at_the_maximum_are_sent(client: AsyncIQMClient, server: RunningServer) -> None:
    """The limit is not off by one: the largest allowed value goes through (the server holds the job)."""
    server.state.hold()
    job = await client.submit(measured(), shots=MAX_SHOTS)
    assert server.state.store.get(job.job_id).status == "waiting"
    assert await job.cancel_async() is True


async def test_non_json_metadata_is_sent_as_null_with_a_warning(client: AsyncIQMClient, server: RunningServer) -> None:
    """Not refused: the circuit goes out with ``metadata: null`` and a warning says why."""
    qc = measured(name="meta")
    qc.metadata = {"fine": 1, "callback": object()}
    with pytest.warns(UserWarning, match="Metadata of the circuit 'meta' was dropped"):
        job = await client.submit(qc, shots=4)
    payload = server.state.store.payload(job.job_id)
    assert payload["circuits"][0]["metadata"] is None
    assert (await job.result_async()).get_counts() == {"01": 4}


# --------------------------------------------------------------------------------------- configuration

BAD_URLS = [
    ("http://iqm.example.com", "Plain http is allowed only on loopback"),
    ("http://10.0.0.7:8765", "Plain http is allowed only on loopback"),
    ("ftp://127.0.0.1", "must start with https://"),
    ("https://resonance.iqm.tech/garnet", "no path"),
    ("https://user:pw@resonance.iqm.tech", "must not contain credentials"),
    ("https://cocos.resonance.iqm.tech", "legacy Cocos"),
    ("", "No IQM server URL"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD_URLS)
def test_bad_urls_are_refused_before_any_request(server: RunningServer, url: str, fragment: str) -> None:
    with pytest.raises(ClientConfigurationError, match=fragment):
        AsyncIQMClient(url)
    assert server.state.requests() == []


@pytest.mark.parametrize(
    ("token", "fragment"),
    [("", "empty"), ("   ", "empty"), ("two words", "malformed"), ("s3cr3t-x\n", "malformed"), ("tökén", "malformed")],
)
def test_empty_or_malformed_tokens_are_refused_without_echoing_them(
    server: RunningServer, token: str, fragment: str
) -> None:
    with pytest.raises(ClientConfigurationError, match=fragment) as info:
        AsyncIQMClient(server.url, token=token)
    if token.strip():
        assert token.strip() not in str(info.value)
    assert server.state.requests() == []


def test_two_token_sources_are_refused(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IQM_TOKEN", "from-env")
    with pytest.raises(ClientConfigurationError, match="exactly one token source"):
        AsyncIQMClient(server.url, token="from-argument")
    assert server.state.requests() == []


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


TOKENS_FILES = [
    ("missing file", None, "Cannot read the tokens file"),
    ("not JSON", "{", "not valid JSON"),
    ("no access_token", json.dumps({"refresh_token": "r"}), "no 'access_token'"),
    ("not a JWT", json.dumps({"access_token": "opaque"}), "not a JWT"),
    ("expired", json.dumps({"access_token": _jwt({"exp": time.time() - 3600})}), "expired"),
]


@pytest.mark.parametrize(("content", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in TOKENS_FILES])
async def test_unusable_tokens_files_fail_before_the_first_request(
    server: RunningServer, tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "tokens.json"
    if content is not None:
        path.write_text(content)
    from iqm_async._auth import ClientAuthenticationError

    async with AsyncIQMClient(server.url, tokens_file=path) as c:
        with pytest.raises(ClientAuthenticationError, match=fragment):
            await c.submit(measured(), shots=1)
    assert server.state.requests() == []


@pytest.mark.parametrize("timeout", [0, -1.0, math.nan, math.inf])
def test_bad_request_timeout_is_refused(server: RunningServer, timeout: float) -> None:
    with pytest.raises(ClientConfigurationError, match="timeout"):
        AsyncIQMClient(server.url, timeout=timeout)
    assert server.state.requests() == []


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_bad_request_timeout_from_the_environment_is_refused(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IQM_CLIENT_REQUESTS_TIMEOUT", value)
    with pytest.raises(ClientConfigurationError, match="IQM_CLIENT_REQUESTS_TIMEOUT"):
        AsyncIQMClient(server.url)
    assert server.state.requests() == []


async def test_unknown_quantum_computer_lists_the_available_ones(server: RunningServer) -> None:
    async with AsyncIQMClient(server.url, quantum_computer="garnet") as c:
        with pytest.raises(ClientConfigurationError, match=r"available: \['sim'\]"):
            await c.submit(measured(), shots=1)
    assert posts(server) == []


# --------------------------------------------------------------------------------------- job ids

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_unknown_job_id_is_not_found_for_result_and_cancel(client: AsyncIQMClient, server: RunningServer) -> None:
    for call in (lambda j: j.result_async(timeout_seconds=5), lambda j: j.cancel_async()):
        with pytest.raises(NotFoundError) as info:
            await call(client.job(UNKNOWN))
        assert info.value.job_id == UNKNOWN and info.value.status_code == 404
    assert [r.path for r in posts(server)] in ([], [f"/api/v1/jobs/{UNKNOWN}/cancel"])
    assert server.state.stats()["jobs_created"] == 0


BAD_JOB_IDS = ["../quantum-computers", "abc/cancel", "x?y=1", "", "not-a-uuid", "%2e%2e"]


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
async def test_job_id_that_is_not_a_uuid_is_refused_before_sending(
    client: AsyncIQMClient, server: RunningServer, job_id: str
) -> None:
    await client.quantum_computer()
    before = len(server.state.requests())
    for call in (
        lambda: client.job(job_id).status_async(),
        lambda: client.job(job_id).cancel_async(),
        lambda: client.cancel_job(job_id),
        lambda: client.delete_job(job_id),
    ):
        with pytest.raises(ValidationError, match="not a job id"):
            await call()
    assert len(server.state.requests()) == before


async def test_calibration_set_id_that_is_not_a_uuid_is_refused_before_sending(
    client: AsyncIQMClient, server: RunningServer
) -> None:
    await client.quantum_computer()
    before = len(server.state.requests())
    with pytest.raises(ValidationError, match="not a calibration set id"):
        await client.submit(measured(), shots=1, calibration_set_id="../../quantum-computers")
    assert len(server.state.requests()) == before


async def test_cancelling_a_finished_job_returns_false(client: AsyncIQMClient, server: RunningServer) -> None:
    job = await client.submit(measured(), shots=4)
    await job.wait_async(timeout_seconds=30)
    again = client.job(job.job_id)  # re-attached: nothing cached, so the server is asked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await again.cancel_async() is False
    assert server.state.store.get(job.job_id).status == "completed"
    assert (await again.result_async()).get_counts() == {"01": 4}


async def test_negative_result_timeout_is_a_typed_error(client: AsyncIQMClient, server: RunningServer) -> None:
    server.state.hold()
    job = await client.submit(measured(), shots=4)
    requests = len(server.state.requests())
    with pytest.raises(ValidationError, match="timeout_seconds"):
        await job.result_async(timeout_seconds=-1)
    assert len(server.state.requests()) == requests
