"""Job lifecycle over HTTP: queue positions, status machine, cancel in every state, delete, timeline, progress."""

from __future__ import annotations

from datetime import datetime

import httpx
from srvkit import WAIT, assert_error, bell, job, submit, x_circuit

from iqm_async.server import RunningServer, ServerState


def _job(client: httpx.Client, job_id: str) -> dict[str, object]:
    r = client.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _steps(body: dict[str, object]) -> list[tuple[str, str]]:
    timeline = body["timeline"]
    assert isinstance(timeline, list)
    return [(t["source"], t["status"]) for t in timeline]


def test_queue_positions_count_waiting_jobs_ahead(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    ids = [submit(client) for _ in range(4)]
    assert [_job(client, j)["queue_position"] for j in ids] == [0, 1, 2, 3]

    assert client.post(f"/api/v1/jobs/{ids[1]}/cancel").status_code == 204
    assert [_job(client, j)["queue_position"] for j in ids] == [0, None, 1, 2]
    assert _job(client, ids[1])["status"] == "cancelled"
    assert state.stats()["jobs_by_status"]["waiting"] == 3

    state.release()
    for j in (ids[0], ids[2], ids[3]):
        assert state.wait_for_status(j, timeout=WAIT) == "completed"
        assert _job(client, j)["queue_position"] is None
    assert _job(client, ids[1])["status"] == "cancelled"


def test_completed_job_data(client: httpx.Client, state: ServerState) -> None:
    job_id = submit(client, job(bell("a"), bell("b"), x_circuit(), shots=10))
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    body = _job(client, job_id)
    assert body["status"] == "completed"
    assert body["queue_position"] is None
    assert body["execution"] == {"progress": {"circuits": {"value": 3, "max_value": 3}}}
    assert body["artifacts"] == [{"type": "measurements"}, {"type": "measurement_counts"}]
    assert body["errors"] == []
    assert _steps(body) == [
        ("iqm-server", "created"),
        ("iqm-station-control", "received"),
        ("iqm-station-control", "completed"),
        ("iqm-server", "ready"),
    ]
    timeline = body["timeline"]
    assert isinstance(timeline, list)
    stamps = [t["timestamp"] for t in timeline]
    assert stamps == sorted(stamps)


def test_artifacts_unavailable_before_completion(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    job_id = submit(client)
    for kind in ("measurements", "measurement_counts"):
        assert_error(client.get(f"/api/v1/jobs/{job_id}/artifacts/{kind}"), 404, "artifact_not_available")
    client.post(f"/api/v1/jobs/{job_id}/cancel")
    for kind in ("measurements", "measurement_counts"):
        assert_error(client.get(f"/api/v1/jobs/{job_id}/artifacts/{kind}"), 404, "artifact_not_available")


def test_cancel_waiting_job(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    job_id = submit(client)
    r = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 204 and r.content == b""
    body = _job(client, job_id)
    assert body["status"] == "cancelled"
    assert body["execution"] is None and body["artifacts"] == []
    assert _steps(body) == [("iqm-server", "created"), ("iqm-server", "cancelled")]
    state.release()
    # The executor never picks it up: a later job runs and the cancelled one stays cancelled.
    later = submit(client)
    assert state.wait_for_status(later, timeout=WAIT) == "completed"
    assert _job(client, job_id)["status"] == "cancelled"


def test_cancel_terminal_jobs_changes_nothing(client: httpx.Client, state: ServerState) -> None:
    done = submit(client)
    assert state.wait_for_status(done, timeout=WAIT) == "completed"
    state.faults.add({"action": "fail_job"})
    failed = submit(client)
    assert state.wait_for_status(failed, timeout=WAIT) == "failed"
    state.hold()
    cancelled = submit(client)
    client.post(f"/api/v1/jobs/{cancelled}/cancel")

    for job_id, status in ((done, "completed"), (failed, "failed"), (cancelled, "cancelled")):
        before = _job(client, job_id)
        for _ in range(2):
            assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 204
        after = _job(client, job_id)
        assert after == before
        assert after["status"] == status
    assert client.get(f"/api/v1/jobs/{done}/artifacts/measurements").status_code == 200


def test_cancel_processing_job(slow_server: RunningServer, slow_client: httpx.Client) -> None:
    state = slow_server.state
    long_job = submit(slow_client, job(*[x_circuit(f"c{i}") for i in range(200)], shots=1))
    assert state.wait_for_status(long_job, "processing", timeout=WAIT) == "processing"
    body = _job(slow_client, long_job)
    assert body["queue_position"] is None
    assert _steps(body)[-1] == ("iqm-station-control", "received")
    assert isinstance(body["execution"], dict)

    follower = submit(slow_client, job(x_circuit(), shots=1))
    assert _job(slow_client, follower)["queue_position"] == 0
    assert slow_client.post(f"/api/v1/jobs/{long_job}/cancel").status_code == 204
    assert state.wait_for_status(long_job, timeout=WAIT) == "cancelled"
    body = _job(slow_client, long_job)
    assert body["artifacts"] == []
    assert _steps(body)[-1] == ("iqm-server", "cancelled")
    assert_error(slow_client.get(f"/api/v1/jobs/{long_job}/artifacts/measurements"), 404, "artifact_not_available")
    # The worker moves on to the next job.
    assert state.wait_for_status(follower, timeout=WAIT) == "completed"


def test_progress_is_updated_after_each_circuit(slow_server: RunningServer, slow_client: httpx.Client) -> None:
    state = slow_server.state
    n = 5
    job_id = submit(slow_client, job(*[x_circuit(f"c{i}") for i in range(n)], shots=1))
    snapshot: list[tuple[str, tuple[int, int]]] = []

    def part_done() -> bool:
        # Runs under the store's lock: read in-process state only, never call the server over HTTP here.
        data = state.store.get(job_id)
        if data.progress is not None and 0 < data.progress[0] < n:
            snapshot.append((data.status, data.progress))
            return True
        return False

    # The store notifies on every progress step; each circuit takes 0.1 s, so some step is seen.
    assert state.wait_for(part_done, timeout=WAIT)
    status, (done, total) = snapshot[0]
    assert status == "processing" and 0 < done < n and total == n
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    assert _job(slow_client, job_id)["execution"] == {"progress": {"circuits": {"value": n, "max_value": n}}}


def test_delete_removes_the_job(client: httpx.Client, state: ServerState) -> None:
    job_id = submit(client)
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    r = client.delete(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 204 and r.content == b""
    for method, path in [
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("GET", f"/api/v1/jobs/{job_id}/payload"),
        ("GET", f"/api/v1/jobs/{job_id}/artifacts/measurements"),
        ("GET", f"/api/v1/jobs/{job_id}/artifacts/measurement_counts"),
        ("POST", f"/api/v1/jobs/{job_id}/cancel"),
        ("DELETE", f"/api/v1/jobs/{job_id}"),
    ]:
        assert_error(client.request(method, path), 404, "job_not_found")
    assert state.stats()["jobs_by_status"]["completed"] == 0


def test_delete_waiting_job_leaves_the_queue(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    first, second = submit(client), submit(client)
    assert client.delete(f"/api/v1/jobs/{first}").status_code == 204
    assert _job(client, second)["queue_position"] == 0
    assert state.stats()["queue_length"] == 1


def test_delete_processing_job(slow_server: RunningServer, slow_client: httpx.Client) -> None:
    state = slow_server.state
    long_job = submit(slow_client, job(*[x_circuit(f"c{i}") for i in range(200)], shots=1))
    assert state.wait_for_status(long_job, "processing", timeout=WAIT) == "processing"
    follower = submit(slow_client, job(x_circuit(), shots=1))
    assert slow_client.delete(f"/api/v1/jobs/{long_job}").status_code == 204
    assert_error(slow_client.get(f"/api/v1/jobs/{long_job}"), 404, "job_not_found")
    assert state.wait_for_status(follower, timeout=WAIT) == "completed"


def test_status_calls_are_answered_while_a_job_executes(slow_server: RunningServer, slow_client: httpx.Client) -> None:
    state = slow_server.state
    long_job = submit(slow_client, job(*[x_circuit(f"c{i}") for i in range(200)], shots=1))
    assert state.wait_for_status(long_job, "processing", timeout=WAIT) == "processing"
    for _ in range(5):
        assert _job(slow_client, long_job)["status"] == "processing"
    slow_client.post(f"/api/v1/jobs/{long_job}/cancel")
    assert state.wait_for_status(long_job, timeout=WAIT) == "cancelled"


def test_failed_job(client: httpx.Client, state: ServerState) -> None:
    state.faults.add({"action": "fail_job", "after_circuits": 1, "message": "Circuit too long", "error_code": "x"})
    job_id = submit(client, job(x_circuit("a"), x_circuit("b"), x_circuit("c"), shots=2))
    assert state.wait_for_status(job_id, timeout=WAIT) == "failed"
    body = _job(client, job_id)
    assert body["errors"] == [{"message": "Circuit too long", "error_code": "x", "source": "iqm-server"}]
    assert body["execution"] == {"progress": {"circuits": {"value": 1, "max_value": 3}}}
    assert body["artifacts"] == []
    assert _steps(body) == [
        ("iqm-server", "created"),
        ("iqm-station-control", "received"),
        ("iqm-server", "failed"),
    ]
    assert_error(client.get(f"/api/v1/jobs/{job_id}/artifacts/measurements"), 404, "artifact_not_available")


def test_reset_drops_jobs_and_releases_the_queue(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    job_id = submit(client)
    assert state.stats()["jobs_created"] == 1
    state.reset()
    stats = state.stats()
    assert stats["jobs_created"] == 0 and stats["held"] is False and stats["requests"] == 0
    assert_error(client.get(f"/api/v1/jobs/{job_id}"), 404, "job_not_found")
    assert state.wait_for_status(submit(client), timeout=WAIT) == "completed"


def test_status_reads_are_answered_while_a_large_result_is_being_encoded(
    client: httpx.Client, state: ServerState, monkeypatch
) -> None:
    # A download of a big result used to be encoded on the event loop: every status read (of any client)
    # waited behind it. Hold the encoding half-way and check that status reads still get their answers.
    import threading

    job_id = submit(client, job(bell("a"), shots=10))
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    entered, release = threading.Event(), threading.Event()
    real = state.store.artifact

    def held(job_id: str, name):  # type: ignore[no-untyped-def]
        entered.set()
        assert release.wait(WAIT)
        return real(job_id, name)

    monkeypatch.setattr(state.store, "artifact", held)
    download: dict[str, httpx.Response] = {}

    def fetch() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=WAIT) as other:
            download["r"] = other.get(f"/api/v1/jobs/{job_id}/artifacts/measurements")

    thread = threading.Thread(target=fetch)
    thread.start()
    try:
        assert entered.wait(WAIT)
        for _ in range(3):
            assert _job(client, job_id)["status"] == "completed"  # answered while the download is held
    finally:
        release.set()
        thread.join(WAIT)
    assert download["r"].status_code == 200
    assert download["r"].headers["content-type"] == "application/json"
    assert len(download["r"].json()) == 1 and set(download["r"].json()[0]) == {"c_2_0_0", "c_2_0_1"}


def test_stats_report_the_seconds_spent_executing_completed_jobs(client: httpx.Client, state: ServerState) -> None:
    ids = [submit(client, job(bell(), shots=20)) for _ in range(3)]
    for job_id in ids:
        assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    expected = 0.0
    for job_id in ids:
        stamps = {t["status"]: t["timestamp"] for t in _job(client, job_id)["timeline"] if t["source"] == "iqm-station-control"}  # type: ignore[union-attr]
        expected += (datetime.fromisoformat(stamps["completed"]) - datetime.fromisoformat(stamps["received"])).total_seconds()
    busy = client.get("/_control/stats").json()["busy_seconds"]
    assert busy > 0 and abs(busy - expected) < 3e-6 * len(ids)  # the timeline's stamps are in microseconds
    state.reset()
    assert client.get("/_control/stats").json()["busy_seconds"] == 0.0
