"""Precise HTTP exchanges through the real client and transport, with respx at the httpx edge.

Each test scripts the server's answers and checks what the client *sent* (how many times, which
headers) and what it raised. Sleeps are injected and recorded, never taken.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
import respx

from iqm_async import AsyncIQMClient, RetryPolicy
from iqm_async.errors import (
    APIValidationError,
    AuthenticationError,
    BadGatewayError,
    ConflictError,
    DataSizeError,
    ForbiddenError,
    InternalSystemError,
    InvalidOperationError,
    MalformedResponseError,
    NotFoundError,
    SubmissionUnknownError,
    SystemUnavailableError,
)
from iqm_async.models import CircuitJobDefinition

ROOT = "http://127.0.0.1:9"
API = ROOT + "/api/v1"
JOB = "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"
QCS = {"quantum_computers": [{"id": "cd4dd889-b88b-4370-ba01-eb8262ad9c53", "alias": "sim", "display_name": "Sim"}]}


def job_json(status: str = "waiting", **extra) -> dict:
    return {"id": JOB, "type": "circuit", "status": status, **extra}


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(sleep: RecordingSleep, monkeypatch):
    for var in (
        "IQM_TOKEN",
        "IQM_TOKENS_FILE",
        "IQM_SERVER_URL",
        "IQM_QUANTUM_COMPUTER",
        "IQM_CLIENT_REQUESTS_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)
    async with AsyncIQMClient(ROOT, sleep=sleep, retry=RetryPolicy(max_attempts=4)) as c:
        yield c


@pytest.fixture
def mock():
    with respx.mock(base_url=API, assert_all_called=False) as router:
        router.get("/quantum-computers").respond(json=QCS)
        yield router


def definition() -> CircuitJobDefinition:
    return CircuitJobDefinition.from_json(
        {
            "circuits": [
                {"name": "c", "instructions": [{"name": "measure", "locus": ["QB1"], "args": {"key": "m_1_0_0"}}]}
            ],
            "shots": 3,
        }
    )


async def test_503_then_success_is_retried_with_backoff(client, mock, sleep) -> None:
    route = mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.Response(503, json={"message": "busy"}), httpx.Response(200, json=job_json("processing"))]
    )
    job = await client.job_data(JOB)
    assert job.status == "processing"
    assert route.call_count == 2
    assert len(sleep.delays) == 1 and 0.5 <= sleep.delays[0] <= 0.5 * 1.25


async def test_retry_after_seconds_is_obeyed_and_holds_the_budget(client, mock, sleep) -> None:
    route = mock.get(f"/jobs/{JOB}").mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "3"}, json={"message": "slow down", "error_code": "rate_limited"}
            ),
            httpx.Response(200, json=job_json()),
        ]
    )
    await client.job_data(JOB)
    assert route.call_count == 2
    assert sum(sleep.delays) >= 3.0
    assert client.transport.rate_limited == 1


async def test_retry_after_http_date_is_understood(client, mock, sleep) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
    mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, json=job_json())]
    )
    await client.job_data(JOB)
    assert sum(sleep.delays) >= 3.0


async def test_429_without_retry_after_backs_off(client, mock, sleep) -> None:
    route = mock.get(f"/jobs/{JOB}").mock(side_effect=[httpx.Response(429), httpx.Response(200, json=job_json())])
    await client.job_data(JOB)
    assert route.call_count == 2 and sum(sleep.delays) >= 0.5


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, InvalidOperationError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, DataSizeError),
        (422, APIValidationError),
        (500, InternalSystemError),
        (418, InternalSystemError),
    ],
)
async def test_non_retryable_statuses_raise_typed_errors_after_one_request(client, mock, sleep, code, cls) -> None:
    route = mock.get(f"/jobs/{JOB}").respond(code, json={"message": "nope", "error_code": "some_code"})
    with pytest.raises(cls) as info:
        await client.job_data(JOB)
    assert route.call_count == 1 and sleep.delays == []
    assert info.value.status_code == code
    assert info.value.message == "nope" and info.value.error_code == "some_code"
    assert info.value.job_id == JOB


async def test_legacy_detail_and_non_json_error_bodies(client, mock) -> None:
    mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.Response(404, json={"detail": "gone"}), httpx.Response(404, text="<html>nope</html>")]
    )
    with pytest.raises(NotFoundError, match="gone"):
        await client.job_data(JOB)
    with pytest.raises(NotFoundError, match="HTML page: nope"):  # a proxy's page is reduced to its text
        await client.job_data(JOB)


async def test_retries_give_up_with_the_mapped_error(client, mock, sleep) -> None:
    route = mock.get(f"/jobs/{JOB}").respond(502, json={"message": "upstream"})
    with pytest.raises(BadGatewayError):
        await client.job_data(JOB)
    assert route.call_count == 4 and len(sleep.delays) == 3


async def test_dropped_connection_on_read_is_retried(client, mock) -> None:
    route = mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.RemoteProtocolError("Server disconnected"), httpx.Response(200, json=job_json())]
    )
    assert (await client.job_data(JOB)).status == "waiting"
    assert route.call_count == 2


async def test_malformed_json_on_read_is_retried_then_typed(client, mock) -> None:
    route = mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.Response(200, text='{"id": "'), httpx.Response(200, json=job_json("completed"))]
    )
    assert (await client.job_data(JOB)).status == "completed"
    mock.get(f"/jobs/{JOB}").respond(200, json={"id": JOB})  # missing status
    with pytest.raises(MalformedResponseError, match="status"):
        await client.job_data(JOB)
    assert route.call_count >= 2


# ------------------------------------------------------------------------------------------ submit


async def test_submit_is_never_resent_after_a_5xx(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").respond(503, json={"message": "maybe"})
    with pytest.raises(SubmissionUnknownError) as info:
        await client.submit_definition(definition())
    assert route.call_count == 1
    assert info.value.circuit_names == ["c"] and info.value.shots == 3
    assert "may or may not" in str(info.value)
    assert isinstance(info.value.__cause__, SystemUnavailableError)


async def test_submit_read_timeout_is_not_resent(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(SubmissionUnknownError):
        await client.submit_definition(definition())
    assert route.call_count == 1


async def test_submit_dropped_after_send_is_not_resent(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").mock(side_effect=httpx.RemoteProtocolError("Server disconnected"))
    with pytest.raises(SubmissionUnknownError):
        await client.submit_definition(definition())
    assert route.call_count == 1


async def test_submit_malformed_reply_is_not_resent(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").respond(200, text="{oops")
    with pytest.raises(SubmissionUnknownError):
        await client.submit_definition(definition())
    assert route.call_count == 1


async def test_submit_connect_error_is_resent(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=job_json())]
    )
    assert (await client.submit_definition(definition())).id == JOB
    assert route.call_count == 2


async def test_submit_429_is_resent(client, mock, sleep) -> None:
    route = mock.post("/jobs/sim/circuit").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json=job_json())]
    )
    assert (await client.submit_definition(definition())).id == JOB
    assert route.call_count == 2 and sum(sleep.delays) >= 1.0


@pytest.mark.parametrize("code", [400, 401, 404, 413, 422])
async def test_submit_4xx_is_typed_not_unknown(client, mock, code) -> None:
    route = mock.post("/jobs/sim/circuit").respond(code, json={"message": "refused"})
    with pytest.raises(Exception) as info:
        await client.submit_definition(definition())
    assert not isinstance(info.value, SubmissionUnknownError)
    assert info.value.status_code == code and route.call_count == 1


async def test_submit_body_and_headers(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").respond(200, json=job_json())
    await client.submit_definition(definition())
    request = route.calls.last.request
    assert request.url.params["use_timeslot"] == "false"
    assert request.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert request.headers["Accept"] == "application/json"
    assert ", iqm_async " in request.headers["User-Agent"] and "python " in request.headers["User-Agent"]
    assert "Authorization" not in request.headers
    body = json.loads(request.content)
    assert body["move_validation_mode"] == "strict" and body["move_gate_frame_tracking_mode"] == "full"
    assert body["qubit_mapping"] is None and body["dd_strategy"] is None and body["shots"] == 3


async def test_redirect_of_a_post_is_refused(client, mock) -> None:
    route = mock.post("/jobs/sim/circuit").respond(307, headers={"Location": "https://evil.example/x"})
    # A redirect is the server's definite answer (the job was not created here), so it is typed, not "unknown".
    with pytest.raises(InvalidOperationError, match="evil.example"):
        await client.submit_definition(definition())
    assert route.call_count == 1


async def test_redirect_of_a_get_is_refused_and_not_followed(client, mock) -> None:
    mock.get(f"/jobs/{JOB}").respond(302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(InvalidOperationError, match="elsewhere.example"):
        await client.job_data(JOB)


async def test_bearer_token_is_sent_and_never_logged(mock, sleep, caplog, monkeypatch) -> None:
    monkeypatch.delenv("IQM_TOKEN", raising=False)
    monkeypatch.delenv("IQM_TOKENS_FILE", raising=False)
    caplog.set_level(logging.DEBUG)
    token = "tok-VERY-SECRET-123"
    route = mock.get(f"/jobs/{JOB}").mock(
        side_effect=[httpx.Response(502, json={"message": "x"}), httpx.Response(401, json={"message": "bad token"})]
    )
    async with AsyncIQMClient(ROOT, token=token, sleep=sleep) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.job_data(JOB)
        assert token not in repr(c) + repr(c.transport)
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {token}"
    assert token not in caplog.text and token not in str(info.value) and token not in repr(info.value)


async def test_rate_limit_headers_feed_the_budget(client, mock) -> None:
    mock.get(f"/jobs/{JOB}").respond(
        200, json=job_json(), headers={"RateLimit-Limit": "500", "RateLimit-Remaining": "480"}
    )
    await client.job_data(JOB)
    assert client.transport.budget.limit == 500


async def test_unknown_status_is_logged_once_per_job(client, mock, caplog) -> None:
    mock.get(f"/jobs/{JOB}").respond(200, json=job_json("compiling"))
    with caplog.at_level(logging.WARNING, logger="iqm_async"):
        for _ in range(3):
            assert (await client.job_data(JOB)).status == "compiling"
    assert caplog.text.count("compiling") == 1


async def test_closed_client_refuses_work(mock, sleep) -> None:
    c = AsyncIQMClient(ROOT, sleep=sleep)
    async with c:
        pass
    await c.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await c.job_data(JOB)


async def test_quantum_computer_selection(mock, sleep) -> None:
    mock.get("/quantum-computers").respond(
        json={
            "quantum_computers": [
                {"id": "1", "alias": "a", "display_name": "A"},
                {"id": "2", "alias": "b", "display_name": "B"},
            ]
        }
    )
    from iqm_async.errors import ClientConfigurationError

    async with AsyncIQMClient(ROOT, sleep=sleep) as c:
        with pytest.raises(ClientConfigurationError, match="choose one"):
            await c.quantum_computer()
    async with AsyncIQMClient(ROOT, sleep=sleep, quantum_computer="zz") as c:
        with pytest.raises(ClientConfigurationError, match=r"available: \['a', 'b'\]"):
            await c.quantum_computer()
    async with AsyncIQMClient(ROOT, sleep=sleep, quantum_computer="b") as c:
        assert (await c.quantum_computer()).id == "2"
