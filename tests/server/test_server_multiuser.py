"""A server with tokens, end to end over HTTP: jobs belong to their token, /_control needs the control
token, and finished jobs are evicted after a time, a count or a size, so a long-running server stays bounded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from qiskit import QuantumCircuit
from srvkit import WAIT, assert_error, bell, h_like, inst, job, measure, submit

from iqm_async import AsyncIQMClient
from iqm_async.errors import NotFoundError
from iqm_async.server import RateLimitConfig, RunningServer, ServerState, serve_in_thread

ALICE, BOB = "alice-token-0001", "bob-token-0002"
NO_LIMIT = RateLimitConfig(enabled=False)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningServer]:
    with serve_in_thread(seed=5, tokens={ALICE, BOB}, rate_limit=NO_LIMIT) as running:
        yield running


@pytest.fixture
def users(shared: RunningServer) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    shared.state.reset()
    with (
        httpx.Client(base_url=shared.url, headers=_auth(ALICE), timeout=10) as alice,
        httpx.Client(base_url=shared.url, headers=_auth(BOB), timeout=10) as bob,
    ):
        yield alice, bob
    shared.state.release()


# ---------------------------------------------------------------------------------- ownership


def test_another_token_gets_404_on_every_job_endpoint(
    shared: RunningServer, users: tuple[httpx.Client, httpx.Client]
) -> None:
    alice, bob = users
    job_id = submit(alice)
    assert shared.state.wait_for_status(job_id, timeout=WAIT) == "completed"
    base = f"/api/v1/jobs/{job_id}"
    for method, path in [
        ("GET", base),
        ("GET", f"{base}/payload"),
        ("GET", f"{base}/artifacts/measurements"),
        ("GET", f"{base}/artifacts/measurement_counts"),
        ("POST", f"{base}/cancel"),
        ("DELETE", base),
        ("GET", base.upper().replace("/API/V1/JOBS/", "/api/v1/jobs/")),  # the id in upper case
    ]:
        r = bob.request(method, path)
        body = assert_error(r, 404, "job_not_found")
        assert body["message"] == f"Job {job_id} not found"  # the same answer as for an id never issued
    unknown = assert_error(bob.get("/api/v1/jobs/5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"), 404, "job_not_found")
    assert set(unknown) == set(body)
    # Bob's attempts changed nothing: Alice still reads it all, and deletes it.
    data = alice.get(base).json()
    assert data["status"] == "completed" and [t["status"] for t in data["timeline"]][-1] == "ready"
    assert alice.get(f"{base}/payload").status_code == 200
    assert sum(alice.get(f"{base}/artifacts/measurement_counts").json()[0]["counts"].values()) == 100
    assert alice.delete(base).status_code == 204
    assert_error(alice.get(base), 404, "job_not_found")


def test_a_waiting_job_cannot_be_cancelled_or_seen_by_another_token(
    shared: RunningServer, users: tuple[httpx.Client, httpx.Client]
) -> None:
    alice, bob = users
    shared.state.hold()
    mine = submit(alice)
    theirs = submit(bob)
    assert bob.post(f"/api/v1/jobs/{mine}/cancel").status_code == 404
    assert alice.post(f"/api/v1/jobs/{theirs}/cancel").status_code == 404
    assert shared.state.store.status(mine) == shared.state.store.status(theirs) == "waiting"
    assert bob.post(f"/api/v1/jobs/{theirs}/cancel").status_code == 204
    assert shared.state.store.status(theirs) == "cancelled"
    assert shared.state.store.job_ids(owner=ALICE) == [mine]
    shared.state.release()
    assert shared.state.wait_for_status(mine, timeout=WAIT) == "completed"


def test_health_shows_the_processing_job_only_to_its_owner() -> None:
    with (
        serve_in_thread(seed=5, tokens={ALICE, BOB}, rate_limit=NO_LIMIT, exec_time_per_circuit=30) as slow,
        httpx.Client(base_url=slow.url, timeout=10) as http,
    ):
        r = http.post("/api/v1/jobs/sim/circuit", json=job(), headers=_auth(ALICE))
        job_id = r.json()["id"]
        assert slow.state.wait_for(lambda: slow.state.store.processing_job_id == job_id, timeout=WAIT)
        seen_by_alice = http.get("/api/v1/quantum-computers/sim/health", headers=_auth(ALICE)).json()
        seen_by_bob = http.get("/api/v1/quantum-computers/sim/health", headers=_auth(BOB)).json()
        assert seen_by_alice["processing_job_id"] == job_id
        assert seen_by_bob["processing_job_id"] is None and seen_by_bob["status"] == "ok"
        assert http.post(f"/api/v1/jobs/{job_id}/cancel", headers=_auth(ALICE)).status_code == 204
        assert slow.state.wait_for_status(job_id, timeout=WAIT) == "cancelled"


async def test_the_core_client_of_another_token_sees_not_found(shared: RunningServer) -> None:
    shared.state.reset()
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.measure(0, 0)
    async with (
        AsyncIQMClient(shared.url, token=ALICE) as alice,
        AsyncIQMClient(shared.url, token=BOB) as bob,
    ):
        handle = await alice.submit(qc, shots=10)
        assert (await handle.result_async()).get_counts() == {"1": 10}
        with pytest.raises(NotFoundError) as caught:
            await bob.job_data(handle.job_id)
        assert handle.job_id in str(caught.value)
        with pytest.raises(NotFoundError):
            await bob.measurements(handle.job_id)


def test_without_tokens_every_caller_sees_every_job(state: ServerState, client: httpx.Client) -> None:
    job_id = submit(client)
    assert state.store.owner(job_id) is None
    assert client.get(f"/api/v1/jobs/{job_id}", headers=_auth("whatever")).status_code == 200


# ---------------------------------------------------------------------------------- the control API


def test_control_needs_the_control_token(shared: RunningServer, users: tuple[httpx.Client, httpx.Client]) -> None:
    alice, _ = users
    assert shared.control_token is not None and shared.control_token not in (ALICE, BOB)
    body = assert_error(alice.get("/_control/stats"), 403, "forbidden")
    assert "control API" in body["message"]
    with httpx.Client(base_url=shared.url, timeout=10) as anonymous:
        r = anonymous.post("/_control/reset")
        assert_error(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"] == "Bearer"
        rule = {"action": "status", "status": 500, "times": None}
        assert anonymous.post("/_control/faults", json=rule, headers=_auth(BOB)).status_code == 403
        assert len(shared.state.faults) == 0  # nothing was armed by a user
        ok = anonymous.get("/_control/stats", headers=shared.control_headers)
        assert ok.status_code == 200 and ok.json()["jobs_created"] == 0
        # The control token never shows in a repr.
        assert shared.control_token not in repr(shared.config) + repr(shared) + repr(shared.state.store)
        # The control token is not a user token: the API refuses it.
        assert_error(anonymous.get("/api/v1/quantum-computers", headers=shared.control_headers), 401, "unauthorized")


def test_an_explicit_control_token_without_user_tokens() -> None:
    with serve_in_thread(control_token="ctl", rate_limit=NO_LIMIT) as running:
        assert running.control_headers == {"Authorization": "Bearer ctl"}
        with httpx.Client(base_url=running.url, timeout=10) as http:
            assert http.get("/api/v1/quantum-computers").status_code == 200  # the API stays open
            assert_error(http.get("/_control/stats"), 401, "unauthorized")
            assert http.get("/_control/stats", headers=running.control_headers).status_code == 200


# ---------------------------------------------------------------------------------- eviction


def _wide(n: int) -> dict[str, object]:
    """A circuit measuring ``n`` qubits in superposition (n bits of result per shot)."""
    qubits = [f"QB{i}" for i in range(1, n + 1)]
    return {
        "name": "wide",
        "instructions": [*(h_like(q) for q in qubits), measure("m", *qubits)],
        "metadata": None,
    }


def test_many_large_jobs_keep_the_store_bounded() -> None:
    # 200 kB of bits per job plus ~120 kB of counts (1024 distinct 10-bit strings): three fit under the bound.
    shots, width, keep = 20_000, 10, 1_100_000
    with serve_in_thread(seed=3, rate_limit=NO_LIMIT, keep_finished_bytes=keep) as running:
        state = running.state
        peak_bytes = peak_jobs = 0
        ids = []
        with httpx.Client(base_url=running.url, timeout=30) as http:
            for _ in range(12):
                job_id = submit(http, job(_wide(width), shots=shots))
                assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
                ids.append(job_id)
                held = state.store.retention()
                peak_bytes = max(peak_bytes, held["bytes_held"])
                peak_jobs = max(peak_jobs, held["jobs_held"])
            stats = http.get("/_control/stats", headers=running.control_headers).json()
            print(f"\n12 jobs of {shots} shots x {width} bits: peak {peak_bytes} B in {peak_jobs} jobs; {stats}")
            per_job = stats["bytes_held"] / 3
            assert shots * width < per_job < 1.7 * shots * width  # the bits, plus the counts table
            assert peak_bytes <= keep and peak_jobs == 3
            assert stats["jobs_held"] == 3 and stats["jobs_evicted"] == 9 and stats["jobs_created"] == 12
            for old in ids[:9]:
                assert_error(http.get(f"/api/v1/jobs/{old}"), 404, "job_not_found")
                assert_error(http.get(f"/api/v1/jobs/{old}/artifacts/measurements"), 404, "job_not_found")
            rows = http.get(f"/api/v1/jobs/{ids[-1]}/artifacts/measurements").json()[0]["m"]
            assert len(rows) == shots and all(len(row) == width for row in rows[:100])


def test_one_job_larger_than_the_bound_stays_readable_until_the_next_finishes() -> None:
    with (
        serve_in_thread(seed=3, rate_limit=NO_LIMIT, keep_finished_bytes=1000) as running,
        httpx.Client(base_url=running.url, timeout=10) as http,
    ):
        first = submit(http, job(_wide(4), shots=1000))
        assert running.state.wait_for_status(first, timeout=WAIT) == "completed"
        assert len(http.get(f"/api/v1/jobs/{first}/artifacts/measurements").json()[0]["m"]) == 1000
        second = submit(http, job(_wide(4), shots=1000))
        assert running.state.wait_for_status(second, timeout=WAIT) == "completed"
        assert_error(http.get(f"/api/v1/jobs/{first}"), 404, "job_not_found")
        assert http.get(f"/api/v1/jobs/{second}").json()["status"] == "completed"


def test_finished_jobs_beyond_the_count_are_evicted_oldest_first() -> None:
    with (
        serve_in_thread(seed=3, rate_limit=NO_LIMIT, keep_finished_jobs=3) as running,
        httpx.Client(base_url=running.url, timeout=10) as http,
    ):
        running.state.hold()
        ids = [submit(http, job(bell(), shots=10)) for _ in range(8)]
        running.state.release()
        assert running.state.wait_for(lambda: running.state.store.queue_length == 0, timeout=WAIT)
        assert running.state.wait_for_status(ids[-1], timeout=WAIT) == "completed"
        codes = [http.get(f"/api/v1/jobs/{i}").status_code for i in ids]
        assert codes == [404] * 5 + [200] * 3
        assert running.state.stats()["jobs_evicted"] == 5


def test_waiting_and_processing_jobs_are_never_evicted() -> None:
    with (
        serve_in_thread(seed=3, rate_limit=NO_LIMIT, keep_finished_jobs=1) as running,
        httpx.Client(base_url=running.url, timeout=10) as http,
    ):
        running.state.hold()
        waiting = [submit(http, job(bell(), shots=10)) for _ in range(5)]
        cancelled = submit(http, job(bell(), shots=10))
        assert http.post(f"/api/v1/jobs/{cancelled}/cancel").status_code == 204
        assert [http.get(f"/api/v1/jobs/{i}").json()["status"] for i in waiting] == ["waiting"] * 5
        running.state.release()
        assert running.state.wait_for_status(waiting[-1], timeout=WAIT) == "completed"
        assert http.get(f"/api/v1/jobs/{cancelled}").status_code == 404


def test_finished_jobs_expire_after_the_configured_time() -> None:
    now = [1000.0]
    with (
        serve_in_thread(seed=3, rate_limit=NO_LIMIT, keep_finished_seconds=60, clock=lambda: now[0]) as running,
        httpx.Client(base_url=running.url, timeout=10) as http,
    ):
        running.state.hold()
        done = submit(http, job(bell(), shots=10))
        running.state.release()
        assert running.state.wait_for_status(done, timeout=WAIT) == "completed"
        running.state.hold()
        waiting = submit(http, job(bell(), shots=10))
        now[0] += 59.9
        assert http.get(f"/api/v1/jobs/{done}").status_code == 200
        now[0] += 0.2
        assert_error(http.get(f"/api/v1/jobs/{done}/artifacts/measurement_counts"), 404, "job_not_found")
        now[0] += 10_000
        assert http.get(f"/api/v1/jobs/{waiting}").json()["status"] == "waiting"  # unfinished: kept
        running.state.release()
        assert running.state.wait_for_status(waiting, timeout=WAIT) == "completed"
        assert running.state.stats()["jobs_evicted"] == 1


def test_packed_measurements_answer_as_lists() -> None:
    # Mid-circuit measurement keys and a key over two qubits: the stored bits unpack in locus order.
    circuit = {
        "name": "c",
        "instructions": [inst("prx", "QB1", angle=3.141592653589793, phase=0.0), measure("a", "QB1", "QB2")],
        "metadata": None,
    }
    with serve_in_thread(seed=3, rate_limit=NO_LIMIT) as running, httpx.Client(base_url=running.url) as http:
        job_id = submit(http, job(circuit, shots=5))
        assert running.state.wait_for_status(job_id, timeout=WAIT) == "completed"
        assert http.get(f"/api/v1/jobs/{job_id}/artifacts/measurements").json() == [{"a": [[1, 0]] * 5}]
        assert running.state.stats()["bytes_held"] > 0
