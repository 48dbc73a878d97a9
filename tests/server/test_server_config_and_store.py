"""ServerConfig, chip layouts, the job store state machine, the in-process app and the exports."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

import iqm_async.server as server_pkg
from iqm_async.errors import ValidationError
from iqm_async.models import Circuit, CircuitJobDefinition, ErrorBody, Instruction, JobParameters
from iqm_async.server import RateLimitConfig, ServerConfig, ServerState, create_app, serve_in_thread
from iqm_async.server.app import ConnectionDroppedError
from iqm_async.server.checks import fallback_validate
from iqm_async.server.chip import build_dqa, build_sqa, couplings
from iqm_async.server.runner import bind_socket
from iqm_async.server.store import JobNotFoundError, JobStore


def test_exports() -> None:
    assert sorted(server_pkg.__all__) == [
        "RateLimitConfig",
        "RunningServer",
        "ServerConfig",
        "ServerState",
        "create_app",
        "serve_in_thread",
    ]


def test_config_defaults() -> None:
    c = ServerConfig()
    assert (c.host, c.port, c.qubits, c.layout, c.alias) == ("127.0.0.1", 0, 20, "square", "sim")
    assert (c.exec_time_per_circuit, c.exec_time_per_shot, c.max_body_bytes) == (0.0, 0.0, 32 * 1024 * 1024)
    assert c.rate_limit == RateLimitConfig(True, 2000, 10.0, 30.0, 100, 100, 100, 10, 100)
    assert c.tokens == frozenset() and not c.auth_enabled
    assert c.seed is None and c.max_components == 20


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"host": "0.0.0.0"}, "allow_remote"),
        ({"host": "example.com"}, "loopback"),
        ({"qubits": 0}, "qubits"),
        ({"layout": "ring"}, "layout"),
        ({"qc_id": "nope"}, "qc_id"),
        ({"calibration_set_id": "x"}, "calibration_set_id"),
        ({"exec_time_per_shot": -1.0}, "exec_time_per_shot"),
        ({"port": 70000}, "port"),
        ({"seed": -1}, "seed"),
        ({"tokens": [""]}, "tokens"),
        ({"alias": "a/b"}, "alias"),
        ({"control_token": ""}, "control_token"),
        ({"tokens": ["t"], "control_token": "t"}, "control_token must differ"),
        ({"keep_finished_seconds": 0}, "keep_finished_seconds"),
        ({"keep_finished_jobs": 0}, "keep_finished_jobs"),
        ({"keep_finished_bytes": -5}, "keep_finished_bytes"),
    ],
)
def test_config_rejects(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_config_coerces_tokens_and_allows_loopback_names() -> None:
    assert ServerConfig(tokens=["a", "b", "a"]).tokens == frozenset({"a", "b"})  # type: ignore[arg-type]
    assert ServerConfig(tokens="solo").tokens == frozenset({"solo"})  # type: ignore[arg-type]
    for host in ("localhost", "127.0.0.2", "::1", "[::1]"):
        assert ServerConfig(host=host).host == host
    assert ServerConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


def test_layouts() -> None:
    assert couplings(ServerConfig(qubits=4, layout="line")) == (("QB1", "QB2"), ("QB2", "QB3"), ("QB3", "QB4"))
    # 7 qubits: 3 columns, rows of 3, 3, 1
    assert set(couplings(ServerConfig(qubits=7))) == {
        ("QB1", "QB2"),
        ("QB2", "QB3"),
        ("QB4", "QB5"),
        ("QB5", "QB6"),
        ("QB1", "QB4"),
        ("QB2", "QB5"),
        ("QB3", "QB6"),
        ("QB4", "QB7"),
    }
    star = ServerConfig(qubits=3, layout="star")
    dqa = build_dqa(star)
    assert dqa.computational_resonators == ("COMP_R",)
    assert dqa.gates["move"].loci == (("QB1", "COMP_R"), ("QB2", "COMP_R"), ("QB3", "COMP_R"))
    assert dqa.gates["cz"].loci == dqa.gates["move"].loci
    assert dqa.gates["measure"].loci == (("QB1",), ("QB2",), ("QB3",))
    assert build_sqa(star).connectivity == dqa.gates["move"].loci
    assert build_dqa(ServerConfig(qubits=1)).gates["cz"].loci == ()


def _definition(*instructions: Instruction, shots: int = 1) -> CircuitJobDefinition:
    return CircuitJobDefinition(circuits=(Circuit("c", instructions),), parameters=JobParameters(shots=shots))


def _x() -> CircuitJobDefinition:
    return _definition(
        Instruction("prx", ("QB1",), {"angle": 3.14, "phase": 0.0}), Instruction("measure", ("QB1",), {"key": "k"})
    )


def test_store_state_machine() -> None:
    store = JobStore()
    a = store.create(_x(), payload={}, calibration_set_id="c")
    b = store.create(_x(), payload={}, calibration_set_id="c")
    assert (a.status, a.queue_position, b.queue_position) == ("waiting", 0, 1)
    job = store.take_next()
    assert job is not None and job.id == a.id
    assert store.status(a.id) == "processing" and store.queue_position(b.id) == 0
    assert store.processing_job_id == a.id

    # A cancel while processing only sets the flag; the executor's completion then becomes a cancel.
    assert store.cancel(a.id) == "processing"
    assert store.cancel_requested(job)
    assert store.complete(job, [{}], [{}]) == "cancelled"
    assert store.artifact(a.id, "measurements") is None
    # Terminal never changes.
    assert store.fail(job, ErrorBody("late")) == "cancelled"
    assert store.complete(job, [{}], [{}]) == "cancelled"
    assert store.get(a.id).errors == ()

    job_b = store.take_next()
    assert job_b is not None
    assert store.complete(job_b, [{"k": [[1]]}], [{"measurement_keys": ["k"], "counts": {"1": 1}}]) == "completed"
    assert store.cancel(b.id) == "completed"
    assert store.artifact(b.id, "measurements") == [{"k": [[1]]}]
    assert store.status_counts() == {"waiting": 0, "processing": 0, "completed": 1, "failed": 0, "cancelled": 1}
    assert store.jobs_created == 2

    store.delete(b.id)
    with pytest.raises(JobNotFoundError):
        store.get(b.id)
    assert store.status_counts()["completed"] == 0


def test_store_fail_waiting_job_and_wait_for() -> None:
    store = JobStore()
    a = store.create(_x(), payload={}, calibration_set_id="c")
    record = store._jobs[a.id]  # the store hands records only to the executor; reach in for this edge case
    assert store.fail(record, ErrorBody("compilation failed", "x")) == "failed"
    assert store.queue_length == 0
    assert [t.status for t in store.get(a.id).timeline] == ["created", "failed"]
    assert store.wait_for_status(a.id, ["failed"], timeout=0) == "failed"
    assert store.wait_for_status(a.id, ["completed"], timeout=0) is None


def test_take_next_waits_for_release_and_close() -> None:
    store = JobStore()
    store.hold()
    job = store.create(_x(), payload={}, calibration_set_id="c")
    taken: list[object] = []
    worker = threading.Thread(target=lambda: taken.append(store.take_next()))
    worker.start()
    assert store.status(job.id) == "waiting" and store.held
    store.release()
    worker.join(5)
    assert len(taken) == 1 and taken[0] is not None
    store.close()
    assert store.take_next() is None


def test_fallback_validation_rules() -> None:
    dqa = build_dqa(ServerConfig(qubits=4))
    fallback_validate(_x(), dqa, 20)
    bad = [
        _definition(Instruction("h", ("QB1",))),
        _definition(Instruction("prx", ("QB1", "QB2"), {"angle": 1.0, "phase": 0.0})),
        _definition(Instruction("prx", ("QB9",), {"angle": 1.0, "phase": 0.0})),
        _definition(Instruction("prx", ("QB1",), {"angle": "1", "phase": 0.0})),
        _definition(Instruction("prx", ("QB1",), {"angle": 1.0})),
        _definition(Instruction("cz", ("QB1", "QB4"))),
        _definition(Instruction("measure", ("QB1",), {"key": "k"}), Instruction("measure", ("QB2",), {"key": "k"})),
        _definition(
            Instruction("cc_prx", ("QB1",), {"angle": 1.0, "phase": 0.0, "feedback_key": "f", "feedback_qubit": "QB1"})
        ),
        _definition(Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}), shots=0),
        _definition(Instruction("measure", ("QB1",), {"key": "k"}, implementation="nope")),
    ]
    for definition in bad:
        with pytest.raises(ValidationError):
            fallback_validate(definition, dqa, 20)
    with pytest.raises(ValidationError, match="at most 1"):
        fallback_validate(_definition(Instruction("cz", ("QB1", "QB2"))), dqa, 1)


def test_bind_socket_is_tcp_so_nodelay_applies() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_running_server_stops_cleanly() -> None:
    running = serve_in_thread(qubits=2, rate_limit=RateLimitConfig(enabled=False))
    assert running.running and running.port > 0 and running.url == f"http://127.0.0.1:{running.port}"
    assert running.config.qubits == 2
    with httpx.Client(base_url=running.url) as c:
        assert len(c.get("/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture").json()["qubits"]) == 2
    running.stop()
    running.stop()
    assert not running.running
    assert not running.state.executor.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url + "/api/v1/quantum-computers")


async def test_in_process_app_control_api_is_loopback_only() -> None:
    app = create_app(ServerConfig(rate_limit=RateLimitConfig(enabled=False)))
    state = app.state.server
    assert isinstance(state, ServerState)
    remote = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=remote, base_url="http://test") as c:
        r = await c.get("/_control/stats")
        assert r.status_code == 403 and r.json()["error_code"] == "forbidden"
        assert (await c.get("/api/v1/quantum-computers")).status_code == 200
    local = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=local, base_url="http://test") as c:
        assert (await c.get("/_control/stats")).status_code == 200
        # Without uvicorn there is no socket to close; the drop surfaces as an exception instead.
        state.faults.add({"action": "drop"})
        with pytest.raises(ConnectionDroppedError):
            await c.get("/api/v1/quantum-computers")


def test_create_app_refuses_config_and_state_together() -> None:
    state = ServerState(ServerConfig())
    with pytest.raises(ValueError, match="either"):
        create_app(ServerConfig(), state=state)
    assert create_app(state=state).state.server is state
