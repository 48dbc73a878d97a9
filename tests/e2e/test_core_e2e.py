"""The async core against the real embedded server over loopback HTTP."""

from __future__ import annotations

import math

import anyio
import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from iqm_async import AsyncIQMClient, JobFailedError, JobTimeoutError, PollPolicy
from iqm_async.errors import CircuitValidationError, NotFoundError

PI2 = math.pi / 2


def bell(name: str = "bell") -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name=name)
    qc.r(PI2, PI2, 0)
    qc.r(PI2, PI2, 1)
    qc.cz(0, 1)
    qc.r(-PI2, PI2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def ghz(n: int) -> QuantumCircuit:
    """GHZ on a line of n qubits, in native gates: H-like on 0, then CNOT-like down the line."""
    qc = QuantumCircuit(n, n, name=f"ghz{n}")
    qc.r(PI2, PI2, 0)
    for i in range(1, n):
        qc.r(PI2, PI2, i)
        qc.cz(i - 1, i)
        qc.r(-PI2, PI2, i)
    qc.measure(range(n), range(n))
    return qc


def line_of(dqa, n: int) -> list[str]:
    """Find n qubits forming a path of cz couplings (depth-first search over the DQA)."""
    edges: dict[str, set[str]] = {}
    for a, b in dqa.gates["cz"].loci:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set()).add(a)

    def extend(path: list[str]) -> list[str] | None:
        if len(path) == n:
            return path
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt not in path and (found := extend([*path, nxt])):
                return found
        return None

    for start in dqa.qubits:
        if found := extend([start]):
            return found
    raise AssertionError("no line found")


@pytest.fixture
async def client(server):
    # Tight polling keeps the suite fast; the default schedule is covered by the unit tests.
    async with AsyncIQMClient(server.url, poll=PollPolicy(max_interval=0.2, per_queue_position=0.05)) as c:
        yield c


async def test_bell_counts(client) -> None:
    job = await client.submit(bell(), shots=2000)
    result = await job.result_async()
    counts = result.get_counts()
    assert set(counts) <= {"00", "11"}
    assert 800 < counts.get("00", 0) < 1200
    assert result.results[0].header["memory_slots"] == 2
    assert len(result.get_memory()) == 2000
    assert await job.status_async() == JobStatus.DONE
    assert result.job_id == job.job_id and result.backend_name == "sim" and result.success


async def test_ghz_5_on_a_line(client) -> None:
    dqa = await client.dynamic_architecture()
    names = line_of(dqa, 5)
    job = await client.submit(ghz(5), shots=1000, qubit_names=names + [q for q in dqa.qubits if q not in names])
    counts = (await job.result_async()).get_counts()
    assert set(counts) <= {"00000", "11111"} and len(counts) == 2


async def test_many_circuits_in_one_job_keep_order_names_and_registers(client) -> None:
    a = QuantumCircuit(1, 1, name="zero")
    a.measure(0, 0)
    b = QuantumCircuit(2, name="one")
    from qiskit import ClassicalRegister

    b.add_register(ClassicalRegister(1, "first"))
    b.add_register(ClassicalRegister(2, "second"))
    b.r(math.pi, 0.0, 1)
    b.measure(1, b.cregs[1][1])
    b.metadata = {"angle": 1.5}
    job = await client.submit([a, b], shots=50)
    result = await job.result_async()
    assert [r.header["name"] for r in result.results] == ["zero", "one"]
    assert result.get_counts(0) == {"0": 50}
    # register 'first' unmeasured (0), 'second' bit 1 is 1: last register leftmost
    assert result.get_counts(1) == {"10 0": 50}
    assert result.results[1].data.metadata == {"angle": 1.5}


async def test_cancel_a_waiting_job(client, server) -> None:
    server.state.hold()
    job = await client.submit(bell(), shots=10)
    assert await job.queue_position_async() == 0
    assert await job.cancel_async() is True
    assert await job.status_async() == JobStatus.CANCELLED
    assert await job.cancel_async() is False  # already over: no exception
    with pytest.warns(UserWarning, match="cancelled"):
        result = await job.result_async()
    assert result.success is False and result.results == []


async def test_queue_positions_follow_the_fifo(client, server) -> None:
    server.state.hold()
    jobs = [await client.submit(bell(f"b{i}"), shots=5) for i in range(3)]
    assert [await j.queue_position_async() for j in jobs] == [0, 1, 2]
    await jobs[0].cancel_async()
    assert await jobs[2].queue_position_async() == 1
    server.state.release()
    for j in jobs[1:]:
        await j.wait_async(timeout_seconds=30)
        assert await j.queue_position_async() is None


async def test_failed_job_raises_with_the_servers_message(client, server) -> None:
    server.state.faults.add(
        {"action": "fail_job", "message": "Circuit duration exceeds T2 limit", "error_code": "circuit_too_long"}
    )
    job = await client.submit(bell(), shots=10)
    with pytest.raises(JobFailedError, match="exceeds T2") as info:
        await job.result_async()
    assert info.value.job_id == job.job_id
    assert info.value.errors[0]["error_code"] == "circuit_too_long"
    assert await job.status_async() == JobStatus.ERROR
    assert await job.error_message_async() == "  iqm-server: circuit_too_long: Circuit duration exceeds T2 limit"


async def test_timeout_raises_and_leaves_the_job_running(client, server) -> None:
    server.state.hold()
    job = await client.submit(bell(), shots=10)
    with pytest.raises(JobTimeoutError) as info:
        await job.result_async(timeout_seconds=0.3)
    assert info.value.job_id == job.job_id and job.job_id in str(info.value)
    assert server.state.store.get(job.job_id).status == "waiting"
    server.state.release()
    assert (await job.result_async(timeout_seconds=30)).get_counts()


async def test_cancel_after_timeout(client, server) -> None:
    server.state.hold()
    job = await client.submit(bell(), shots=10)
    with pytest.raises(JobTimeoutError, match="Cancelled"):
        await job.result_async(timeout_seconds=0.2, cancel_after_timeout=True)
    assert server.state.store.get(job.job_id).status == "cancelled"


async def test_reattach_by_job_id_in_a_new_client(server) -> None:
    async with AsyncIQMClient(server.url) as first:
        job = await first.submit(bell(), shots=300)
        expected = (await job.result_async()).get_counts()
    async with AsyncIQMClient(server.url) as second:
        again = await second.job(job.job_id).result_async()
    assert again.get_counts() == expected
    assert again.results[0].header["name"] == "bell"


async def test_unknown_job_id_is_not_found(client) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.job("00000000-0000-0000-0000-000000000000").status_async()
    assert info.value.job_id == "00000000-0000-0000-0000-000000000000"


async def test_a_429_burst_is_ridden_out(client, server) -> None:
    server.state.faults.add(
        {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "times": 2, "action": "rate_limit", "retry_after": 1}
    )
    job = await client.submit(bell(), shots=20)
    result = await job.result_async(timeout_seconds=60)
    assert sum(result.get_counts().values()) == 20
    assert client.transport.rate_limited == 2


async def test_bad_circuits_are_refused_before_sending(client, server) -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    with pytest.raises(CircuitValidationError, match="transpile"):
        await client.submit(qc)
    with pytest.raises(CircuitValidationError, match="shots"):
        await client.submit(bell(), shots=0)
    with pytest.raises(CircuitValidationError, match="Unknown job option"):
        await client.submit(bell(), bogus=1)
    no_measure = QuantumCircuit(1, 1)
    no_measure.r(1.0, 0.0, 0)
    with pytest.raises(CircuitValidationError, match="no measurements"):
        await client.submit(no_measure)
    assert [r for r in server.state.requests() if r.method == "POST"] == []
    assert server.state.stats()["jobs_created"] == 0


def test_core_runs_on_trio(server) -> None:
    async def main() -> dict:
        async with AsyncIQMClient(server.url) as c:
            job = await c.submit(bell(), shots=100)
            return (await job.result_async()).get_counts()

    counts = anyio.run(main, backend="trio")
    assert set(counts) <= {"00", "11"}
