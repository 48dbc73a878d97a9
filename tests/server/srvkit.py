"""Wire-format builders shared by the server tests (plain functions, no fixtures)."""

from __future__ import annotations

import math
from typing import Any

import httpx

PI = math.pi
WAIT = 10.0  # generous upper bound for wait_for(); tests finish far sooner


def inst(name: str, *locus: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "locus": list(locus), "args": args, "implementation": None}


def prx(q: str, angle: float, phase: float = 0.0) -> dict[str, Any]:
    return inst("prx", q, angle=angle, phase=phase)


def h_like(q: str) -> dict[str, Any]:
    # ry(pi/2): puts |0> into an equal superposition
    return prx(q, PI / 2, PI / 2)


def measure(key: str, *locus: str, feedback_key: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"key": key}
    if feedback_key is not None:
        args["feedback_key"] = feedback_key
    return inst("measure", *locus, **args)


def bell(name: str = "bell", a: str = "QB1", b: str = "QB2") -> dict[str, Any]:
    return {
        "name": name,
        "instructions": [
            h_like(a),
            h_like(b),
            inst("cz", a, b),
            prx(b, PI / 2, -PI / 2),
            measure("c_2_0_0", a),
            measure("c_2_0_1", b),
        ],
        "metadata": {"kind": "bell"},
    }


def x_circuit(name: str = "x", q: str = "QB1") -> dict[str, Any]:
    return {"name": name, "instructions": [prx(q, PI), measure("c_1_0_0", q)], "metadata": None}


def job(*circuits: dict[str, Any], shots: int = 100, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"circuits": list(circuits) or [bell()], "shots": shots}
    body.update(params)
    return body


def submit(client: httpx.Client, body: dict[str, Any] | None = None, qc: str = "sim") -> str:
    r = client.post(f"/api/v1/jobs/{qc}/circuit", params={"use_timeslot": "false"}, json=body or job())
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    assert isinstance(job_id, str)
    return job_id


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code, body
    assert body["source"] == "iqm-server"
    assert isinstance(body["message"], str) and body["message"]
    return body  # type: ignore[no-any-return]
