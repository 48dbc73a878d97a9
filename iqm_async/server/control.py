"""The ``/_control`` API of the embedded server: fault rules, request log, hold/release, stats, calibration sets.

Reached only through the gateway of :mod:`iqm_async.server.app`, which answers loopback peers only and, once a
control token is configured, only requests that carry it (docs/protocol.md#fault-injection-switchboard).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .state import ServerState

__all__ = ["control_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def control_routes(state: ServerState) -> list[Route]:
    """Return the routes of the ``/_control`` API of one server (the gateway guards them)."""
    from .app import CONTROL_PREFIX, error_response

    async def add_fault(request: Request) -> Response:
        try:
            rule = json.loads(await request.body())
            rule_id = state.faults.add(rule)
        except (ValueError, UnicodeDecodeError) as exc:
            return error_response(400, f"Invalid fault rule: {exc}", "invalid_fault_rule")
        return JSONResponse({"id": rule_id}, status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse(state.faults.rules())

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return Response(status_code=204)

    async def remove_fault(request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        if not state.faults.remove(rule_id):
            return error_response(404, f"Fault rule {rule_id} not found", "not_found")
        return Response(status_code=204)

    async def requests(request: Request) -> Response:
        return JSONResponse(state.request_log.to_json())

    def action(fn: Callable[[], object]) -> Handler:
        async def endpoint(request: Request) -> Response:
            fn()
            return Response(status_code=204)

        return endpoint

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def add_calibration_set(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            alias = body.get("quantum_computer")
            if alias is not None and alias not in state.computers:
                raise ValueError(f"unknown quantum computer {alias!r}")
            cal_id = state.add_calibration_set(
                body.get("calibration_set_id"),
                make_default=bool(body.get("make_default", False)),
                alias=alias,
                overrides=_fidelity_overrides(body.get("fidelities")),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            return error_response(400, f"Invalid calibration set request: {exc}", "invalid_request")
        return JSONResponse({"id": cal_id}, status_code=201)

    c = CONTROL_PREFIX
    return [
        Route(f"{c}/faults", add_fault, methods=["POST"]),
        Route(f"{c}/faults", list_faults, methods=["GET"]),
        Route(f"{c}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{c}/faults/{{rule_id}}", remove_fault, methods=["DELETE"]),
        Route(f"{c}/requests", requests, methods=["GET"]),
        Route(f"{c}/reset", action(state.reset), methods=["POST"]),
        Route(f"{c}/hold", action(state.hold), methods=["POST"]),
        Route(f"{c}/release", action(state.release), methods=["POST"]),
        Route(f"{c}/stats", stats, methods=["GET"]),
        Route(f"{c}/calibration-sets", add_calibration_set, methods=["POST"]),
    ]


def _fidelity_overrides(obj: object) -> dict[str, dict[tuple[str, ...], float]] | None:
    """Parse ``{"cz": {"QB1__QB2": 0.8}, "prx": {"QB3": 0.95}}`` (IQM's locus strings) into overrides."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ValueError("fidelities must be an object of gate → {locus: fidelity}")
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for gate, by_locus in obj.items():
        if not isinstance(by_locus, dict):
            raise ValueError(f"fidelities[{gate!r}] must be an object of locus → fidelity")
        for locus, value in by_locus.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"fidelities[{gate!r}][{locus!r}] must be a number in [0, 1], got {value!r}")
            out.setdefault(str(gate), {})[tuple(str(locus).split("__"))] = float(value)
    return out
