"""The one place that sends HTTP: auth, the request budget, retries, logging and error mapping.

:meth:`Transport.request` is the only code in iqm-async that calls httpx. Every attempt pays into
the shared :class:`~iqm_async._ratelimit.RequestBudget`, reads the ``RateLimit-*`` headers, and maps
httpx exceptions and non-2xx replies to :mod:`iqm_async.errors`. The reply is parsed *inside* the
retry loop, so a 2xx with a body that is not the documented JSON is retried like a 5xx (for
idempotent requests only).
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import platform
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar

import anyio
import httpx

from . import telemetry
from ._auth import TokenProvider
from ._config import DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_POLICY, RateLimitPolicy, RetryPolicy
from ._ratelimit import RequestBudget
from ._retry import NotSentError, RequestKind, make_retrying
from ._version import __version__
from .errors import (
    ClientConfigurationError,
    ConnectError,
    InvalidOperationError,
    IQMError,
    MalformedResponseError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerUnreachableError,
    SubmissionUnknownError,
    TLSVerificationError,
    TransportError,
    error_from_response,
)

__all__ = ["Transport", "request_timeout_from_env"]

logger = logging.getLogger("iqm_async.http")
T = TypeVar("T")

API_PREFIX = "/api/v1"
DEFAULT_429_BLOCK = 1.0
"""Seconds every request is held after a 429 that carries no ``Retry-After``."""

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def request_timeout_from_env(env: Mapping[str, str] | None = None) -> float:
    """Return the per-request timeout: ``IQM_CLIENT_REQUESTS_TIMEOUT`` if set, else 120 s."""
    env = os.environ if env is None else env
    raw = env.get("IQM_CLIENT_REQUESTS_TIMEOUT")
    if raw is None or not raw.strip():
        return DEFAULT_REQUEST_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ClientConfigurationError(
            f"IQM_CLIENT_REQUESTS_TIMEOUT must be a number of seconds, got {raw!r}"
        ) from None
    if not value > 0:
        raise ClientConfigurationError(f"IQM_CLIENT_REQUESTS_TIMEOUT must be positive, got {raw!r}")
    return value


def user_agent(signature: str | None = None) -> str:
    """Return the User-Agent string of docs/protocol.md#request-headers."""
    py = ".".join(str(v) for v in sys.version_info[:3])
    agent = f"{platform.platform()}, python {py}, iqm_async {__version__}"
    return f"{agent}, {signature}" if signature else agent


FIRST_CONTACT_SECONDS = 3.0
"""How long a client that has never reached its server keeps retrying a refused connection before it says so."""

_REDACTED = "Bearer ***"


class _BearerAuth(httpx.Auth):
    """Adds the bearer token to each request as it leaves, so no header dict of ours ever holds it."""

    def __init__(self, tokens: TokenProvider):
        self._tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set ``Authorization`` from the token source (re-read when a tokens file's token nears expiry)."""
        secret = self._tokens.get()
        if secret is not None:
            request.headers["Authorization"] = "Bearer " + secret.reveal()
        yield request


def _redact(request: httpx.Request | None) -> None:
    """Blank the token in a request that has been sent, so nothing reachable from an error or reply shows it."""
    if request is not None and "Authorization" in request.headers:
        request.headers["Authorization"] = _REDACTED


def _scrub(exc: BaseException) -> None:
    """Make an httpx exception safe to chain: its request's token blanked, its library frames (and their locals) gone.

    Tracebacks rendered with locals (``pytest -l``, rich's ``show_locals``) and code that walks
    ``__cause__`` must find no token. The exception keeps its type and message for debugging.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        request = getattr(current, "_request", None)
        if isinstance(request, httpx.Request):
            _redact(request)
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def _is_tls_verification(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class Transport:
    """Owns the ``httpx.AsyncClient`` and sends every request of one :class:`~iqm_async.AsyncIQMClient`."""

    def __init__(
        self,
        root_url: str,
        *,
        tokens: TokenProvider,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        rate_limit: RateLimitPolicy,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        signature: str | None = None,
        verify: bool = True,
    ):
        self.root_url = root_url
        self._tokens = tokens
        self._retry = retry
        self._sleep = sleep
        self.budget = RequestBudget(rate_limit, clock=clock, sleep=sleep)
        self._costs = rate_limit.costs
        self._clock = clock
        self.reached = False
        """True once any reply came back from the server (until then refused connections fail fast)."""
        self._http = httpx.AsyncClient(
            base_url=root_url + API_PREFIX,
            auth=_BearerAuth(tokens),
            headers={"User-Agent": user_agent(signature), "Accept": "application/json"},
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=http_transport,
            # Plain http is only ever allowed on loopback: no TLS context is needed (building one costs ~50 ms).
            verify=verify if root_url.startswith("https://") else False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.requests_sent = 0
        self.rate_limited = 0
        self.quantum_computer: str | None = None
        """The alias of the client's quantum computer once chosen (for telemetry)."""

    def __repr__(self) -> str:
        return f"Transport({getattr(self, 'root_url', None)!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        """True once the connection pool is closed."""
        return self._http.is_closed

    async def request(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind = "read",
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        parse: Callable[[httpx.Response], T],
        job_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> T:
        """Send one API request with retries and return ``parse(response)`` of the 2xx reply.

        Args:
            method: HTTP method.
            path: path below ``/api/v1``.
            kind: ``read``/``cancel``/``delete`` are retried on transient failures; ``submit`` only
                when the server provably did not act on it.
            json: body to send as UTF-8 JSON.
            content: a body already encoded as UTF-8 JSON, sent as it is (instead of ``json``).
            params: query parameters.
            parse: turns the 2xx reply into the result; a ``MalformedResponseError`` from it counts
                as a failed attempt.
            job_id: the job concerned, put on every error raised.
            context: for submits, what to report in a :class:`SubmissionUnknownError`.

        Raises:
            IQMError: a subclass saying what went wrong; never a bare httpx exception.
        """
        body = content
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, allow_nan=False).encode("utf-8")
        cost = self._costs.get(kind, 10)
        if body is not None and kind == "submit":
            cost += 100 * (len(body) // (10 * 1024 * 1024))
        started = self._clock()

        async def log_retry(state: Any) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else None
            telemetry.retried(method, path, attempt=state.attempt_number, job_id=job_id, error=exc, delay=delay,
                              elapsed=self._clock() - started)

        retrying = make_retrying(
            kind,
            self._retry,
            sleep=self._sleep,
            before_sleep=log_retry,
            give_up=lambda _: not self.reached and self._clock() - started >= FIRST_CONTACT_SECONDS,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    charge = await self.budget.acquire(cost)
                    # One span (and DEBUG record) per attempt, from send to parsed reply, budget wait excluded.
                    with telemetry.http_request(
                        method, path, attempt=attempt.retry_state.attempt_number, job_id=job_id,
                        quantum_computer=self.quantum_computer, server=self._http.base_url.host, clock=self._clock,
                    ) as op:
                        try:
                            response = await self._send(method, path, body, params, job_id, op)
                        except NotSentError:
                            self.budget.refund(charge)  # it never arrived, so the server's quota never saw it
                            raise
                        finally:
                            self.budget.settle(charge)  # a no-op after a refund
                        return parse(response)
        except ServerUnreachableError as exc:
            raise self._unreachable(exc, method, path, started, job_id) from exc
        except (TransportError, ServerError, MalformedResponseError) as exc:
            if kind == "submit" and not isinstance(exc, (NotSentError, TLSVerificationError)):
                raise self._unknown_submission(exc, context or {}) from exc
            if job_id is not None and isinstance(exc, TransportError) and exc.job_id is None:
                exc.job_id = job_id  # every error after a successful submit names its job
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str] | None,
        job_id: str | None,
        op: telemetry.Operation,
    ) -> httpx.Response:
        headers = {"Content-Type": JSON_CONTENT_TYPE} if body is not None else {}
        self.requests_sent += 1
        try:
            response = await self._http.request(method, path, content=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            _scrub(exc)
            raise self._transport_error(exc, method, path) from exc
        _redact(response.request)
        self.reached = True
        self.budget.observe(response.headers.get("RateLimit-Limit"), response.headers.get("RateLimit-Remaining"))
        status = response.status_code
        op.set("http.response.status_code", status)  # logged (DEBUG) with the attempt's other fields on exit
        if 300 <= status < 400:
            location = response.headers.get("Location", "<none>")
            raise InvalidOperationError(
                f"The server redirected {method} {path} to {location}; redirects are not followed. Check the "
                "server URL.",
                status_code=status,
                job_id=job_id,
            )
        if status >= 400:
            error = error_from_response(
                status, response.content, retry_after=response.headers.get("Retry-After"), job_id=job_id
            )
            if status == 401:
                error.hint = self._token_hint()
            if isinstance(error, RateLimitError):
                self.rate_limited += 1
                self.budget.block(error.retry_after if error.retry_after is not None else DEFAULT_429_BLOCK)
            raise error
        return response

    def _token_hint(self) -> str:
        """Say which token source a refused request used (never the token) and how to give another."""
        source = getattr(self._tokens, "source", "none")
        if source == "none":
            return (
                "No token was sent: set IQM_TOKEN (or IQM_TOKENS_FILE, the path of a tokens file), or pass token=..."
            )
        return (
            f"The token came from {source}; it may be wrong or expired. Give a valid one with IQM_TOKEN or "
            "IQM_TOKENS_FILE (only one of them), or token=... / tokens_file=..."
        )

    def _transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> TransportError:
        """Map an httpx failure to our error: unreachable (nothing sent), TLS, timeout or dropped connection."""
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) and _is_tls_verification(exc):
            return TLSVerificationError(
                f"The TLS certificate of {self.root_url} could not be verified ({_describe(exc)}). Check the URL; "
                "behind a proxy that re-signs traffic, point SSL_CERT_FILE at its CA bundle."
            )
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            # The connection was never established (or no pooled connection freed up):
            # the request did not leave, so even a submit may be sent again.
            return ServerUnreachableError(f"Could not connect to {self.root_url}: {_describe(exc)}")
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(
                f"Client-side timeout reached: {method} {path} got no reply in time ({_describe(exc)})."
            )
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
            return ConnectError(f"The connection was dropped during {method} {path}: {_describe(exc)}")
        return TransportError(f"{method} {path} failed: {_describe(exc)}")

    def _unreachable(
        self, exc: ServerUnreachableError, method: str, path: str, started: float, job_id: str | None
    ) -> ServerUnreachableError:
        waited = self._clock() - started
        hint = (
            " Check IQM_SERVER_URL (or the url passed) and that the server is running and reachable from here."
            if not self.reached
            else " The server answered before; it may be restarting or the network may be down."
        )
        error = ServerUnreachableError(
            f"Cannot reach the IQM server at {self.root_url}: {method} {path} could not connect for "
            f"{waited:.1f} s ({exc}).{hint}"
        )
        error.job_id = job_id
        return error

    def _unknown_submission(self, exc: IQMError, context: Mapping[str, Any]) -> SubmissionUnknownError:
        names = list(context.get("circuit_names", []))
        qc = str(context.get("quantum_computer", "?"))
        shots = int(context.get("shots", 0))
        shown = ", ".join(repr(n) for n in names[:5]) + (", …" if len(names) > 5 else "")
        return SubmissionUnknownError(
            f"The job submission to {qc} failed after the request was sent ({exc}). The job may or may not have "
            f"been created, so it was not re-sent. Before submitting again, check the server's job list for a job "
            f"with circuits [{shown}] and {shots} shots submitted around {time.strftime('%H:%M:%S')}.",
            quantum_computer=qc,
            circuit_names=names,
            shots=shots,
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def parse_json(response: httpx.Response) -> Any:
    """Return the reply's JSON, or raise :class:`MalformedResponseError` if it is not JSON."""
    try:
        return jsonlib.loads(response.content)
    except ValueError:
        snippet = response.content[:80].decode("utf-8", errors="replace")
        raise MalformedResponseError(
            f"{response.request.method} {response.request.url.path}: the reply is not valid JSON ({snippet!r})"
        ) from None


def parse_nothing(response: httpx.Response) -> None:
    """Ignore the reply body (cancel and delete)."""
    return None
