"""The fault switchboard: each action over real HTTP, rule matching, and the control API."""

from __future__ import annotations

import json

import httpx
import pytest
from srvkit import WAIT, assert_error, job, submit, x_circuit

from iqm_async.server import RunningServer, ServerState

QC_LIST = "/api/v1/quantum-computers"


def test_status_fault_applies_times_then_stops(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"match": {"method": "GET", "path": QC_LIST}, "action": "status", "status": 503, "times": 2})
    for _ in range(2):
        body = assert_error(client.get(QC_LIST), 503, "injected_fault")
        assert body["message"] == "injected fault"
    assert client.get(QC_LIST).status_code == 200
    assert state.faults.rules() == []
    assert [e.fault for e in state.requests()] == ["status", "status", None]
    assert [e.status for e in state.requests()] == [503, 503, 200]


def test_status_fault_with_body_and_headers(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"action": "status", "status": 502, "body": {"detail": "upstream"}, "headers": {"X-Fault": "yes"}})
    r = client.get(QC_LIST)
    assert r.status_code == 502
    assert r.json() == {"detail": "upstream"}
    assert r.headers["x-fault"] == "yes"


def test_rules_match_method_and_path_glob_in_order(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"match": {"method": "POST", "path": "/api/v1/jobs/*"}, "action": "status", "status": 500})
    state.faults.add({"match": {"path": "/api/v1/jobs/*"}, "action": "status", "status": 504, "times": None})
    assert client.get(QC_LIST).status_code == 200  # path does not match
    job_id = "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 500  # first rule, now used up
    for _ in range(3):
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 504  # until removed
        assert client.get(f"/api/v1/jobs/{job_id}").status_code == 504
    (rule,) = state.faults.rules()
    assert rule["remaining"] is None
    assert state.faults.remove(rule["id"])
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_rate_limit_fault(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"action": "rate_limit", "retry_after": 7})
    r = client.get(QC_LIST)
    assert_error(r, 429, "rate_limited")
    assert r.headers["retry-after"] == "7"
    # RateLimit-* headers come with every answer only while the server rate-limits at all.
    limited = state.config.rate_limit.enabled
    assert ("ratelimit-limit" in r.headers) is limited and ("ratelimit-remaining" in r.headers) is limited


def test_malformed_json(client: httpx.Client, state: ServerState) -> None:
    job_id = submit(client)
    # fnmatch's "*" also crosses "/", so this rule would catch the submit too; add it afterwards.
    state.faults.add({"match": {"path": "/api/v1/jobs/*"}, "action": "malformed_json"})
    r = client.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    state.faults.add({"action": "malformed_json", "status": 503})
    assert client.get(QC_LIST).status_code == 503


def test_drop_closes_the_connection_without_a_reply(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"match": {"method": "POST", "path": "/api/v1/jobs/*/circuit"}, "action": "drop"})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/api/v1/jobs/sim/circuit", json=job())
    # The request was read but never handled: no job exists.
    assert state.stats()["jobs_created"] == 0
    (entry,) = state.requests()
    assert (entry.method, entry.status, entry.fault) == ("POST", None, "drop")
    # The server is fine afterwards.
    assert client.get(QC_LIST).status_code == 200


def test_drop_sends_not_a_single_byte(server: RunningServer, state: ServerState) -> None:
    import socket

    state.faults.add({"action": "drop"})
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/quantum-computers HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""


def test_drop_after_handling_creates_exactly_one_job(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"match": {"path": "/api/v1/jobs/*/circuit"}, "action": "drop", "after_handling": True})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/api/v1/jobs/sim/circuit", json=job(x_circuit(), shots=3))
    assert state.stats()["jobs_created"] == 1
    (job_id,) = state.store.job_ids()
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "completed"


def test_delay_then_normal_handling(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"match": {"path": QC_LIST}, "action": "delay", "delay_s": 0.3})
    with pytest.raises(httpx.ReadTimeout):
        client.get(QC_LIST, timeout=0.05)
    state.faults.add({"match": {"path": QC_LIST}, "action": "delay", "delay_s": 0.01})
    r = client.get(QC_LIST)
    assert r.status_code == 200 and r.json()["quantum_computers"][0]["alias"] == "sim"


def test_fail_job_targets_one_job(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    first, second = submit(client), submit(client)
    state.faults.add({"action": "fail_job", "job_id": second, "message": "calibration drift", "error_code": "drift"})
    state.release()
    assert state.wait_for_status(first, timeout=WAIT) == "completed"
    assert state.wait_for_status(second, timeout=WAIT) == "failed"
    errors = client.get(f"/api/v1/jobs/{second}").json()["errors"]
    assert errors == [{"message": "calibration drift", "error_code": "drift", "source": "iqm-server"}]


def test_fail_job_times_and_after_all_circuits(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"action": "fail_job", "times": 2, "after_circuits": 5})
    ids = [submit(client, job(x_circuit("a"), x_circuit("b"), shots=1)) for _ in range(3)]
    statuses = [state.wait_for_status(j, timeout=WAIT) for j in ids]
    assert statuses == ["failed", "failed", "completed"]
    failed = client.get(f"/api/v1/jobs/{ids[0]}").json()
    assert failed["execution"] == {"progress": {"circuits": {"value": 2, "max_value": 2}}}
    assert failed["errors"][0]["error_code"] == "injected_fault"


def test_request_rules_do_not_touch_the_control_api(server: RunningServer, state: ServerState) -> None:
    state.faults.add({"action": "status", "status": 500, "times": None})
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/_control/faults").status_code == 200
        assert c.get(QC_LIST).status_code == 500


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "explode"},
        {"action": "status"},
        {"action": "status", "status": 1000},
        {"action": "delay", "delay_s": -1},
        {"action": "drop", "after_handling": "yes"},
        {"action": "status", "status": 500, "times": 0},
        {"action": "status", "status": 500, "match": {"verb": "GET"}},
        {"action": "rate_limit", "colour": "red"},
        [1, 2],
    ],
)
def test_bad_rules_are_refused(server: RunningServer, state: ServerState, rule: object) -> None:
    with pytest.raises(ValueError):
        state.faults.add(rule)  # type: ignore[arg-type]
    with httpx.Client(base_url=server.url) as c:
        assert_error(c.post("/_control/faults", json=rule), 400, "invalid_fault_rule")
    assert state.faults.rules() == []


def test_control_api(server: RunningServer, state: ServerState) -> None:
    with httpx.Client(base_url=server.url) as c:
        r = c.post(
            "/_control/faults", json={"match": {"method": "GET", "path": QC_LIST}, "action": "status", "status": 503}
        )
        assert r.status_code == 201
        rule_id = r.json()["id"]
        c.post("/_control/faults", json={"action": "delay", "delay_s": 0, "times": None})
        rules = c.get("/_control/faults").json()
        assert [(x["id"], x["action"], x["remaining"]) for x in rules] == [
            (rule_id, "status", 1),
            (rules[1]["id"], "delay", None),
        ]
        assert rules[0]["match"] == {"method": "GET", "path": QC_LIST}
        assert c.delete(f"/_control/faults/{rule_id}").status_code == 204
        assert_error(c.delete(f"/_control/faults/{rule_id}"), 404, "not_found")
        assert c.delete("/_control/faults").status_code == 204
        assert c.get("/_control/faults").json() == []

        assert c.post("/_control/hold").status_code == 204
        job_id = submit(c)
        assert c.get("/_control/stats").json()["queue_length"] == 1
        assert c.post("/_control/release").status_code == 204
        assert state.wait_for_status(job_id, timeout=WAIT) == "completed"

        log = c.get("/_control/requests").json()
        assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
            ("POST", "/api/v1/jobs/sim/circuit", "use_timeslot=false", 200)
        ]
        assert log[0]["answered_at"] >= log[0]["received_at"]

        new_default = c.post("/_control/calibration-sets", json={"make_default": True}).json()["id"]
        dqa = c.get("/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture").json()
        assert dqa["calibration_set_id"] == new_default

        assert c.post("/_control/reset").status_code == 204
        assert_error(c.get(f"/api/v1/jobs/{job_id}"), 404, "job_not_found")
        assert c.get("/_control/requests").json() == [
            {
                "method": "GET",
                "path": f"/api/v1/jobs/{job_id}",
                "query": "",
                "status": 404,
                "received_at": pytest.approx(c.get("/_control/requests").json()[0]["received_at"]),
                "answered_at": pytest.approx(c.get("/_control/requests").json()[0]["answered_at"]),
                "fault": None,
            }
        ]
        stats = c.get("/_control/stats").json()
        assert stats["jobs_created"] == 0 and stats["requests"] == 1
        assert_error(c.get("/_control/nothing"), 404, "not_found")
