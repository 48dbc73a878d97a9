"""Starlette app of the embedded server: IQM Server API v1 (E1–E12) plus the ``/_control`` API.

Every request outside ``/_control`` goes through one raw ASGI gateway, outermost in the stack so that
it sees uvicorn's own ``send``. In order it: logs the request, reads the body, applies a matching fault
rule (injected answers are not charged), charges the rate limiter (``/api/v1`` only), refuses bodies
over the limit (413) and unknown tokens (401), then hands the request to the routes. Every
``/api/v1`` answer carries ``RateLimit-Limit`` and ``RateLimit-Remaining``.

``/_control`` answers only loopback peers, and only with the control token once one is configured;
a server with user tokens but no control token refuses it over HTTP altogether (403), so that no
user token can reset the server or read other users' requests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import ValidationError
from ..models import CircuitJobDefinition, ErrorBody
from .checks import validate
from .config import ServerConfig, is_loopback_host
from .control import control_routes
from .faults import FaultRule, RequestLogEntry
from .limits import GLOBAL_BUCKET, Decision, request_cost
from .state import ServerState
from .store import JobNotFoundError

__all__ = ["ConnectionDroppedError", "create_app", "error_response"]

logger = logging.getLogger("iqm_async.server")

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_control"
_ANONYMOUS_BUCKET = "<anonymous>"
_MALFORMED_BODY = b'{"id": "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77", "status": "wai'


class ConnectionDroppedError(ConnectionError):
    """Raised in place of a connection drop when the app does not run under uvicorn (e.g. an in-process transport)."""


def error_response(
    status: int, message: str, error_code: str | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Build a non-2xx reply with the protocol's error body (docs/protocol.md, docs/protocol.md)."""
    return JSONResponse(ErrorBody(message, error_code).to_json(), status_code=status, headers=dict(headers or {}))


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _bearer_token(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _client_is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    # No peer address means no network peer at all (an in-process transport).
    return client is None or is_loopback_host(str(client[0]))


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, int, bool]:
    """Read the whole request body, keeping at most ``limit + 1`` bytes; return (body, size, disconnected)."""
    chunks: list[bytes] = []
    kept = 0
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), size, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if kept <= limit:
            chunks.append(chunk)
            kept += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size, False


class _Gateway:
    """Raw ASGI middleware in front of the routes: request log, faults, rate limit, body limit, auth."""

    def __init__(self, app: ASGIApp, state: ServerState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if _is_control(path):
            refusal = self._control_refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await self._call_app(scope, receive, send)
            return
        await self._api_request(scope, receive, send)

    def _control_refusal(self, scope: Scope) -> Response | None:
        """Return the refusal of a ``/_control`` request, or None when it may go on."""
        config = self.state.config
        if not _client_is_loopback(scope):
            return error_response(403, "the control API is only available on loopback", "forbidden")
        if config.control_token is None:
            if not config.auth_enabled:
                return None
            return error_response(
                403,
                "the control API is disabled: this server checks bearer tokens and was started without a control "
                "token (start it with --control-token, or ServerConfig(control_token=...)); user tokens never "
                "open it",
                "control_disabled",
            )
        token = _bearer_token(scope)
        if token is None:
            return error_response(
                401,
                "the control API needs the control token as a bearer token",
                "unauthorized",
                {"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(token.encode(), config.control_token.encode()):
            return error_response(403, "this token does not open the control API", "forbidden")
        return None

    async def _api_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        config = state.config
        method: str = scope["method"]
        path: str = scope["path"]
        entry = state.request_log.start(method, path, bytes(scope.get("query_string", b"")).decode("latin-1"))
        is_api = _is_api(path)
        token = _bearer_token(scope)
        # Unknown tokens share one bucket, so made-up tokens cannot create buckets without end.
        bucket = token if token in config.tokens else _ANONYMOUS_BUCKET
        if not config.auth_enabled:
            bucket = GLOBAL_BUCKET

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.request_log.answer(entry, int(message["status"]))
            await send(message)

        body, size, disconnected = await _read_body(receive, config.max_body_bytes)
        if disconnected:
            state.request_log.answer(entry, None)
            return
        replay = _Replay(body, receive)

        rule = state.faults.match(method, path)
        drop_after = False
        if rule is not None:
            entry.fault = rule.action
            if rule.action == "delay":
                await anyio.sleep(rule.params["delay_s"])
            elif rule.action == "drop":
                if not rule.params["after_handling"]:
                    await self._drop(send, receive, entry)
                    return
                drop_after = True
            else:
                peek = state.limiter.peek(bucket) if is_api else None
                await self._injected(rule, peek)(scope, replay, logged_send)
                return

        target_send: Send = _discard if drop_after else logged_send
        if is_api:
            decision = state.limiter.charge(bucket, request_cost(config.rate_limit, method, path, size))
            target_send = _with_headers(target_send, decision.headers())
            if not decision.allowed:
                response = error_response(
                    429, f"Rate limit exceeded; retry in {decision.retry_after} s", "rate_limited"
                )
                await response(scope, replay, target_send)
                if drop_after:
                    await self._drop(send, receive, entry)
                return

        rejection = self._reject(scope, size, is_api, token)
        if rejection is not None:
            await rejection(scope, replay, target_send)
        else:
            await self._call_app(scope, replay, target_send)
        if drop_after:
            await self._drop(send, receive, entry)

    def _reject(self, scope: Scope, size: int, is_api: bool, token: str | None) -> Response | None:
        config = self.state.config
        if size > config.max_body_bytes:
            return error_response(
                413, f"Request body of {size} bytes exceeds the limit of {config.max_body_bytes}", "payload_too_large"
            )
        if is_api and config.auth_enabled and token not in config.tokens:
            message = "Missing bearer token" if token is None else "Invalid bearer token"
            return error_response(401, message, "unauthorized", {"WWW-Authenticate": "Bearer"})
        return None

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette has usually answered 500 through our handler already and re-raises only so that
            # servers can log; log here instead of letting uvicorn close the connection.
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, f"Internal server error: {exc}", "internal_error")(scope, receive, send)

    @staticmethod
    def _injected(rule: FaultRule, peek: Decision | None) -> Response:
        headers = dict(peek.headers()) if peek is not None else {}
        if rule.action == "status":
            headers.update(rule.params.get("headers", {}))
            body = rule.params.get("body")
            if body is None:
                return error_response(rule.params["status"], "injected fault", "injected_fault", headers)
            return JSONResponse(body, status_code=rule.params["status"], headers=headers)
        if rule.action == "rate_limit":
            headers["Retry-After"] = str(rule.params["retry_after"])
            return error_response(429, "Rate limit exceeded (injected)", "rate_limited", headers)
        # malformed_json: a cut-off object under a JSON content type.
        return Response(
            _MALFORMED_BODY, status_code=rule.params["status"], headers=headers, media_type="application/json"
        )

    async def _drop(self, send: Send, receive: Receive, entry: RequestLogEntry) -> None:
        """Close the connection without sending a byte (or a byte more)."""
        self.state.request_log.answer(entry, None)
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None or not hasattr(transport, "abort"):
            raise ConnectionDroppedError("connection dropped by an injected fault")
        transport.abort()
        # If the app returned before uvicorn noticed the disconnect, uvicorn would answer 500 itself;
        # wait for the disconnect message first.
        with anyio.move_on_after(5):
            while (await receive())["type"] != "http.disconnect":
                pass


class _Replay:
    """A ``receive`` that yields the already-read body once, then defers to the real one (disconnects)."""

    def __init__(self, body: bytes, receive: Receive):
        self._body: bytes | None = body
        self._receive = receive

    async def __call__(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self._receive()


async def _discard(message: Message) -> None:
    return None


def _with_headers(send: Send, headers: Mapping[str, str]) -> Send:
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k for k, _ in extra}
            kept = [(k, v) for k, v in message.get("headers", []) if bytes(k).lower() not in names]
            message = {**message, "headers": kept + extra}
        await send(message)

    return wrapped


class _IQMApp(Starlette):
    """Starlette with the gateway as the outermost layer, so a dropped connection sends nothing at all."""

    def __init__(self, server_state: ServerState, **kwargs: Any):
        super().__init__(**kwargs)
        self.server_state = server_state

    def build_middleware_stack(self) -> ASGIApp:
        """Wrap Starlette's own stack in the gateway."""
        return _Gateway(super().build_middleware_stack(), self.server_state)


# ----------------------------------------------------------------------------------------------
# Endpoints
# ----------------------------------------------------------------------------------------------

_versions: dict[str, str] = {}


def _software_versions() -> dict[str, str]:
    if not _versions:
        for dist in ("iqm-async", "qiskit", "qiskit-aer", "starlette", "uvicorn"):
            try:
                _versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                if dist == "iqm-async":
                    _versions[dist] = __version__
    return dict(_versions)


Handler = Callable[[Request], Awaitable[Response]]


def _routes(state: ServerState) -> list[Route]:
    config = state.config
    computers = state.computers

    def qc_not_found(qc: str) -> Response:
        return error_response(404, f"Quantum computer {qc!r} not found", "quantum_computer_not_found")

    def job_not_found(job_id: str) -> Response:
        return error_response(404, f"Job {job_id} not found", "job_not_found")

    def owner_token(request: Request) -> str | None:
        """Return the token that owns jobs this request creates or reads (None when no tokens are checked)."""
        return _bearer_token(request.scope) if config.auth_enabled else None

    async def quantum_computers(request: Request) -> Response:
        return JSONResponse({"quantum_computers": [c.quantum_computer.to_json() for c in computers.values()]})

    async def dynamic_architecture(request: Request) -> Response:
        qc = request.path_params["qc"]
        calset = request.path_params["calset"]
        computer = computers.get(qc)
        if computer is None:
            return qc_not_found(qc)
        if calset == "default":
            dqa = computer.dqa()
        else:
            try:
                calset = str(uuid.UUID(calset))
            except ValueError:
                return error_response(
                    422, f"Calibration set id must be 'default' or a UUID, got {calset!r}", "validation_error"
                )
            dqa = computer.dqa(calset)
        if dqa is None:
            return error_response(404, f"Calibration set {calset} not found", "calibration_set_not_found")
        return JSONResponse(dqa.to_json())

    def calibration_sets(request: Request) -> tuple[Any, ...] | Response:
        """Return the served (calibration set, quality metric set) of the request's path, or the error answer."""
        qc = request.path_params["qc"]
        calset = request.path_params["calset"]
        computer = computers.get(qc)
        if computer is None:
            return qc_not_found(qc)
        if calset != "default":
            try:
                calset = str(uuid.UUID(calset))
            except ValueError:
                return error_response(
                    422, f"Calibration set id must be 'default' or a UUID, got {calset!r}", "validation_error"
                )
        sets = computer.observation_sets(None if calset == "default" else calset)
        if sets is None:
            return error_response(404, f"Calibration set {calset} not found", "calibration_set_not_found")
        return sets

    async def calibration_set(request: Request) -> Response:
        sets = calibration_sets(request)
        return sets if isinstance(sets, Response) else JSONResponse(sets[0].to_json())

    async def calibration_metrics(request: Request) -> Response:
        sets = calibration_sets(request)
        return sets if isinstance(sets, Response) else JSONResponse(sets[1].to_json())

    async def static_architectures(request: Request) -> Response:
        computer = computers.get(request.path_params["qc"])
        if computer is None:
            return qc_not_found(request.path_params["qc"])
        return JSONResponse([computer.sqa.to_json()])

    async def submit(request: Request) -> Response:
        computer = computers.get(request.path_params["qc"])
        if computer is None:
            return qc_not_found(request.path_params["qc"])
        use_timeslot = request.query_params.get("use_timeslot", "false").lower() in ("true", "1")
        try:
            obj = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return error_response(400, f"Request body is not valid JSON: {exc}", "invalid_json")
        if not isinstance(obj, dict):
            return error_response(400, "Request body must be a JSON object", "invalid_json")
        try:
            definition = CircuitJobDefinition.from_json(obj, error=ValidationError)
            calset = definition.parameters.calibration_set_id or computer.default_calibration_set_id
            dqa = computer.dqa(calset)
            if dqa is None:
                raise ValidationError(f"Unknown calibration set {calset} for quantum computer {computer.alias!r}")
            if definition.parameters.shots > config.max_shots:
                raise ValidationError(f"shots must be at most {config.max_shots}, got {definition.parameters.shots}")
            physical = validate(definition, dqa, config.max_components)
        except ValidationError as exc:
            return error_response(422, str(exc), "validation_error")
        job = state.store.create(
            physical,
            payload=definition.to_json(),
            calibration_set_id=calset,
            use_timeslot=use_timeslot,
            owner=owner_token(request),
            quantum_computer=computer.alias,
        )
        return JSONResponse(job.to_json())

    def job_endpoint(body: Callable[[str], Response | Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            # Job ids are lower-case UUIDs; accept any case.
            job_id = str(request.path_params["job_id"]).lower()
            try:
                # Another token's job is as unknown as a job that never existed (no hint that it exists).
                state.store.check_access(job_id, owner_token(request))
                reply = body(job_id)
                return reply if isinstance(reply, Response) else await reply
            except JobNotFoundError:
                return job_not_found(job_id)

        return endpoint

    def artifact(name: Any) -> Callable[[str], Awaitable[Response]]:
        def render(job_id: str) -> bytes | None:
            data = state.store.artifact(job_id, name)
            return None if data is None else json.dumps(data, separators=(",", ":")).encode()

        async def body(job_id: str) -> Response:
            # Unpacking and encoding a large result takes a while: on a worker thread, so status reads and
            # submits of other clients are answered meanwhile, as by a server that stores results ready to send.
            content = await anyio.to_thread.run_sync(render, job_id)
            if content is None:
                return error_response(
                    404, f"Artifact {name!r} of job {job_id} is not available", "artifact_not_available"
                )
            return Response(content, media_type="application/json")

        return body

    def cancel(job_id: str) -> Response:
        state.store.cancel(job_id)
        return Response(status_code=204)

    def delete(job_id: str) -> Response:
        state.store.delete(job_id)
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        qc = request.path_params["qc"]
        if qc not in computers:
            return qc_not_found(qc)
        processing = state.store.processing_job_id
        if processing is not None and config.auth_enabled:
            try:
                state.store.check_access(processing, owner_token(request))
            except JobNotFoundError:
                processing = None  # another user's job: its id is not for this token to see
        return JSONResponse({"status": "ok", "queue_length": state.store.queue_length, "processing_job_id": processing})

    async def about(request: Request) -> Response:
        return JSONResponse(
            {
                "name": "iqm_async.server",
                "version": __version__,
                "description": "IQM-compatible simulator server of iqm-async",
                "quantum_computers": list(computers),
                "software_versions": _software_versions(),
            }
        )

    async def qc_about(request: Request) -> Response:
        qc = request.path_params["qc"]
        if qc not in computers:
            return qc_not_found(qc)
        return JSONResponse({"version": __version__, "software_versions": _software_versions()})

    p = API_PREFIX
    return [
        Route(f"{p}/quantum-computers", quantum_computers, methods=["GET"]),
        Route(f"{p}/calibration-sets/{{qc}}/{{calset}}/dynamic-quantum-architecture", dynamic_architecture),
        Route(f"{p}/calibration-sets/{{qc}}/{{calset}}", calibration_set, methods=["GET"]),
        Route(f"{p}/calibration-sets/{{qc}}/{{calset}}/metrics", calibration_metrics, methods=["GET"]),
        Route(f"{p}/quantum-computers/{{qc}}/artifacts/static-quantum-architectures", static_architectures),
        Route(f"{p}/quantum-computers/{{qc}}/health", health, methods=["GET"]),
        Route(f"{p}/quantum-computers/{{qc}}/artifacts/about", qc_about, methods=["GET"]),
        Route(f"{p}/about", about, methods=["GET"]),
        Route(f"{p}/jobs/{{qc}}/circuit", submit, methods=["POST"]),
        Route(f"{p}/jobs/{{job_id}}", job_endpoint(lambda j: JSONResponse(state.store.get(j).to_json()))),
        Route(f"{p}/jobs/{{job_id}}", job_endpoint(delete), methods=["DELETE"]),
        Route(f"{p}/jobs/{{job_id}}/payload", job_endpoint(lambda j: JSONResponse(dict(state.store.payload(j))))),
        Route(f"{p}/jobs/{{job_id}}/artifacts/measurements", job_endpoint(artifact("measurements"))),
        Route(f"{p}/jobs/{{job_id}}/artifacts/measurement_counts", job_endpoint(artifact("measurement_counts"))),
        Route(f"{p}/jobs/{{job_id}}/cancel", job_endpoint(cancel), methods=["POST"]),
        *control_routes(state),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(404, f"No route for {request.method} {request.url.path}", "not_found")
    if status == 405:
        return error_response(405, f"Method {request.method} not allowed for {request.url.path}", "method_not_allowed")
    return error_response(status, str(getattr(exc, "detail", exc)), "http_error")


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(500, f"Internal server error: {exc}", "internal_error")


def create_app(config: ServerConfig | None = None, *, state: ServerState | None = None) -> Starlette:
    """Build the ASGI app of one embedded server; its control object is ``app.state.server``.

    The executor thread starts and stops with the app's lifespan, so run the app under a server that
    sends lifespan events (uvicorn does), or call ``state.start()`` yourself.
    """
    if state is None:
        state = ServerState(config)
    elif config is not None and config is not state.config:
        raise ValueError("pass either config or state, not both")
    server_state = state

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server_state.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server_state.stop)

    app = _IQMApp(
        server_state,
        routes=_routes(server_state),
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    # A redirect would be refused by clients for POST/DELETE anyway; answer 404 instead.
    app.router.redirect_slashes = False
    app.state.server = server_state
    return app
