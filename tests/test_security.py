"""Security: the token never leaks, redirects never carry it away, TLS is verified, the server stays local.

* A full run (submit, poll, result, cancel, failing requests of several kinds) against a server that
  requires a bearer token, with every logger at DEBUG (httpx and httpcore included), and the token is
  searched for in the log output, in every exception (message, repr, args, cause chain) and in the
  repr/str of every live ``iqm_async`` object.
* Redirects: answered 3xx, the client raises and never sends anything to the ``Location`` host.
* TLS verification is on by default (``CERT_REQUIRED`` with host name checks); plain http only on loopback.
* The embedded server: loopback by default, ``/_control`` refused from a non-loopback peer, and with
  tokens configured every API endpoint refuses a missing or wrong token with 401.
"""

from __future__ import annotations

import gc
import io
import logging
import socket
import ssl
import warnings
from collections.abc import Iterator

import httpx
import psutil
import pytest
import respx
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy, RetryPolicy
from iqm_async.errors import (
    AuthenticationError,
    ClientConfigurationError,
    InvalidOperationError,
    IQMError,
    NotFoundError,
)
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread

TOKEN = "iqm-SECRET-b7f3c1d9e2a84f6b9c0d1e2f3a4b5c6d"
OTHER = "iqm-WRONG-0000000000000000000000000000"


def circuit() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="sec")
    qc.x(0)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture(scope="module")
def secured() -> Iterator[RunningServer]:
    with serve_in_thread(ServerConfig(seed=7, tokens=frozenset({TOKEN}))) as running:
        yield running


@pytest.fixture
def all_logs() -> Iterator[io.StringIO]:
    """Every log record of every logger at DEBUG, formatted with tracebacks, into one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    names = ["httpx", "httpcore", "iqm_async", "iqm_async.server", "uvicorn", "uvicorn.error", "hpack", "anyio"]
    saved = {name: logging.getLogger(name).level for name in names}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr and args of an exception and of every exception in its cause/context chain."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(v) for v in vars(current).values()] if hasattr(current, "__dict__") else []
        current = current.__cause__ or current.__context__
    return texts


def live_reprs(*, server: bool) -> list[str]:
    """repr and str of every live object of an ``iqm_async`` class: the client's, or the embedded server's."""
    gc.collect()
    texts: list[str] = []
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if not isinstance(module, str) or not module.startswith("iqm_async") or isinstance(obj, type):
            continue
        if module.startswith("iqm_async.server") != server:
            continue
        try:
            texts += [repr(obj), str(obj)]
        except Exception:  # a half-built object's repr may fail; that shows no token either
            continue
    return texts


async def test_the_token_never_appears_in_logs_errors_or_reprs(secured: RunningServer, all_logs: io.StringIO) -> None:
    secured.state.release()
    secured.state.reset()
    errors: list[BaseException] = []
    fast = RetryPolicy(base_delay=0.01, max_delay=0.05)
    poll = PollPolicy(first_delay=0.02, max_interval=0.2)
    async with AsyncIQMClient(secured.url, token=TOKEN, retry=fast, poll=poll) as client:
        # The happy path: submit, poll, result (E1, E2, E4, E5, E7).
        job = await client.submit(circuit(), shots=8)
        result = await job.result_async(timeout_seconds=30)
        assert result.get_counts() == {"01": 8}
        # Cancel (E9) of a held job, a re-attached job (E6), a retried 503, a malformed reply, a drop.
        secured.state.hold()
        held = await client.submit(circuit(), shots=8)
        secured.state.faults.add(
            {"match": {"method": "POST", "path": "/api/v1/jobs/*/cancel"}, "action": "status", "status": 503}
        )
        secured.state.faults.add({"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "action": "malformed_json"})
        secured.state.faults.add({"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "action": "drop"})
        assert await held.cancel_async() is True
        secured.state.release()
        again = await client.job(job.job_id).result_async(timeout_seconds=30)
        assert again.get_counts() == {"01": 8}
        # Failing requests: unknown job (404), a 500, an ambiguous submit, a persistent drop.
        for fault, call in [
            (None, lambda: client.job("00000000-0000-4000-8000-000000000000").status_async()),
            ({"action": "status", "status": 500}, lambda: client.job(job.job_id).status_async()),
            (
                {"match": {"method": "POST", "path": "*/circuit"}, "action": "status", "status": 502},
                lambda: client.submit(circuit(), shots=8),
            ),
            (
                {"match": {"method": "GET", "path": "*/payload"}, "action": "drop", "times": None},
                lambda: client.job(job.job_id).definition_async(),
            ),
        ]:
            if fault is not None:
                secured.state.faults.add(fault)
            with pytest.raises(IQMError) as info:
                await call()
            errors.append(info.value)
            secured.state.faults.clear()
        # Every live iqm_async object, while the client is still open.
        reprs = live_reprs(server=False)
    # A client with the wrong token, and one with none (401 from the server).
    for kwargs in ({"token": OTHER}, {}):
        async with AsyncIQMClient(secured.url, retry=fast, **kwargs) as stranger:
            with pytest.raises(AuthenticationError) as info:
                await stranger.submit(circuit(), shots=8)
            errors.append(info.value)
    assert len(reprs) > 20, "the object scan found nothing to check"
    assert [type(e).__name__ for e in errors] == [
        "NotFoundError",
        "InternalSystemError",
        "SubmissionUnknownError",
        "ConnectError",
        "AuthenticationError",
        "AuthenticationError",
    ]
    log = all_logs.getvalue()
    assert "GET /api/v1/" in log or "HTTP Request" in log or "send_request_headers" in log, "nothing was logged"
    for text in [log, *reprs, *(t for e in errors for t in exception_texts(e))]:
        assert TOKEN not in text
        assert OTHER not in text
    assert secured.state.stats()["jobs_created"] == 2


async def test_the_token_goes_only_in_the_authorization_header() -> None:
    """It is sent (so the leak test above is not vacuous), as a bearer token, and nowhere else in the request."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get("https://iqm.example/api/v1/quantum-computers").respond(
            json={"quantum_computers": [{"id": "x", "alias": "sim", "display_name": "Sim"}]}
        )
        async with AsyncIQMClient("https://iqm.example", token=TOKEN) as client:
            await client.quantum_computer()
        request = route.calls.last.request
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in str(request.url)
        assert TOKEN not in repr(request.headers)  # httpx masks it in reprs as well


def test_the_server_config_does_not_show_its_tokens(secured: RunningServer) -> None:
    assert secured.config.auth_enabled
    texts = [repr(secured.config), str(secured.config), repr(secured), *live_reprs(server=True)]
    assert not [t for t in texts if TOKEN in t]


# ------------------------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_redirect_never_takes_the_token_to_another_host(status: int, method: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get("https://iqm.example/api/v1/quantum-computers").respond(
            json={"quantum_computers": [{"id": "x", "alias": "sim", "display_name": "Sim"}]}
        )
        job = "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"
        path = f"/api/v1/jobs/{job}" if method == "GET" else f"/api/v1/jobs/{job}/cancel"
        origin = mock.route(method=method, url=f"https://iqm.example{path}").respond(
            status, headers={"Location": "https://evil.example/collect"}
        )
        evil = mock.route(host="evil.example").respond(200, json={})
        async with AsyncIQMClient("https://iqm.example", token=TOKEN, retry=RetryPolicy(base_delay=0.0)) as client:
            call = client.job_data(job) if method == "GET" else client.cancel_job(job)
            with pytest.raises(InvalidOperationError, match="evil.example") as info:
                await call
        assert origin.call_count == 1 and evil.call_count == 0
        assert origin.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in str(info.value)


# ------------------------------------------------------------------------------------------- TLS and URLs


def _ssl_context(client: AsyncIQMClient) -> ssl.SSLContext:
    pool = client.transport._http._transport._pool  # httpx.AsyncHTTPTransport -> httpcore.AsyncConnectionPool
    return pool._ssl_context


async def test_tls_verification_is_on_by_default() -> None:
    async with AsyncIQMClient("https://resonance.iqm.tech") as client:
        context = _ssl_context(client)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    async with AsyncIQMClient("https://resonance.iqm.tech", verify=False) as insecure:
        assert _ssl_context(insecure).verify_mode == ssl.CERT_NONE  # the inspection above does see the setting


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "http://127.0.0.53", "https://x.io"]
)
def test_plain_http_is_accepted_on_loopback_only(url: str) -> None:
    AsyncIQMClient(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.2:8765",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://[fd00::2]:8765",
        "http://resonance.iqm.tech",
        "HTTP://iqm.example",
    ],
)
def test_plain_http_to_any_other_host_is_refused(url: str) -> None:
    with pytest.raises(ClientConfigurationError, match="Plain http is allowed only on loopback"):
        AsyncIQMClient(url)


# ------------------------------------------------------------------------------------------- the server


def _non_loopback_ipv4() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return str(a.address)
    return None


def test_the_embedded_server_binds_to_loopback_by_default(embedded_server: RunningServer) -> None:
    assert ServerConfig().host == "127.0.0.1"
    assert embedded_server.url.startswith("http://127.0.0.1:")
    listening = [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == embedded_server.port
    ]
    assert [c.laddr.ip for c in listening] == ["127.0.0.1"]
    address = _non_loopback_ipv4()
    if address is not None:
        with pytest.raises(OSError), socket.create_connection((address, embedded_server.port), timeout=2):
            pass
    with pytest.raises(ValueError, match="not a loopback address"):
        ServerConfig(host="0.0.0.0")


def test_the_control_api_answers_only_on_loopback() -> None:
    address = _non_loopback_ipv4()
    if address is None:  # pragma: no cover - every CI runner has one
        pytest.skip("no non-loopback interface to connect from")
    with serve_in_thread(ServerConfig(host="0.0.0.0", allow_remote=True)) as server:
        remote = f"http://{address}:{server.port}"
        with httpx.Client(timeout=5) as http:
            for method, path in [
                ("GET", "/_control/faults"),
                ("POST", "/_control/reset"),
                ("GET", "/_control/requests"),
            ]:
                r = http.request(method, remote + path, json={"action": "drop"} if method == "POST" else None)
                assert r.status_code == 403 and r.json()["error_code"] == "forbidden"
            r = http.post(remote + "/_control/faults", json={"action": "status", "status": 500, "times": None})
            assert r.status_code == 403
            assert len(server.state.faults) == 0  # nothing was armed from outside
            assert http.get(remote + "/api/v1/quantum-computers").status_code == 200  # the API itself is served
            local = f"http://127.0.0.1:{server.port}"
            assert http.get(local + "/_control/faults").status_code == 200


API_CALLS = [
    ("GET", "/api/v1/quantum-computers"),
    ("GET", "/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture"),
    ("GET", "/api/v1/quantum-computers/sim/artifacts/static-quantum-architectures"),
    ("POST", "/api/v1/jobs/sim/circuit"),
    ("GET", "/api/v1/jobs/{job}"),
    ("GET", "/api/v1/jobs/{job}/payload"),
    ("GET", "/api/v1/jobs/{job}/artifacts/measurements"),
    ("GET", "/api/v1/jobs/{job}/artifacts/measurement_counts"),
    ("POST", "/api/v1/jobs/{job}/cancel"),
    ("DELETE", "/api/v1/jobs/{job}"),
    ("GET", "/api/v1/quantum-computers/sim/health"),
    ("GET", "/api/v1/about"),
    ("GET", "/api/v1/quantum-computers/sim/artifacts/about"),
]


async def test_every_api_endpoint_refuses_a_missing_or_wrong_token(secured: RunningServer) -> None:
    secured.state.release()
    secured.state.reset()
    async with AsyncIQMClient(secured.url, token=TOKEN) as client:
        job = await client.submit(circuit(), shots=4)
        await job.wait_async(timeout_seconds=30)
    payload = secured.state.store.payload(job.job_id)
    headers_variants = [
        {},
        {"Authorization": f"Bearer {OTHER}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ]
    with httpx.Client(base_url=secured.url, timeout=5) as http:
        for method, template in API_CALLS:
            path = template.format(job=job.job_id)
            for headers in headers_variants:
                body = dict(payload) if path.endswith("/circuit") else None
                r = http.request(method, path, headers=headers, json=body)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert TOKEN not in r.text
    assert secured.state.stats()["jobs_created"] == 1  # no anonymous submit got through
    assert secured.state.store.get(job.job_id).status == "completed"  # no anonymous cancel or delete either
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with AsyncIQMClient(secured.url, token=TOKEN) as client:
            assert (await client.job(job.job_id).result_async()).get_counts() == {"01": 4}
    with pytest.raises(NotFoundError):
        async with AsyncIQMClient(secured.url, token=TOKEN) as client:
            await client.job("00000000-0000-4000-8000-000000000000").status_async()
