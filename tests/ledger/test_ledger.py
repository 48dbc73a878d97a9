"""The job ledger: records written by real jobs on the embedded server, filters, usage, several processes."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient
from iqm_async.errors import CircuitValidationError
from iqm_async.ledger import Ledger, LedgerError, default_ledger_path, open_ledger, parse_since
from iqm_async.models import JobData, TimelineEntry

PI2 = math.pi / 2


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(PI2, PI2, 0)
    qc.r(PI2, PI2, 1)
    qc.cz(0, 1)
    qc.r(-PI2, PI2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IQM_ASYNC_LEDGER", raising=False)


async def test_a_submitted_job_is_recorded_and_followed_to_completed(server, tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    async with AsyncIQMClient(server.url, ledger=path) as client:
        job = await client.submit([bell(), bell()], shots=50, tags=["exp-1", "bell"])
        entry = client.ledger.job(job.job_id)
        assert entry is not None and entry.status == "waiting"
        assert entry.tags == ("exp-1", "bell") and entry.circuits == 2 and entry.shots == 50
        assert entry.server_url == server.url and entry.quantum_computer == "sim"
        assert entry.calibration_set_id == (await client.dynamic_architecture()).calibration_set_id
        await job.result_async(timeout_seconds=60)
        done = client.ledger.job(job.job_id)
    assert done is not None and done.status == "completed"
    assert done.qpu_seconds is not None and done.qpu_seconds >= 0
    assert done.queue_seconds is not None and done.run_seconds is not None
    assert done.error is None
    assert abs((done.submitted - datetime.now(timezone.utc)).total_seconds()) < 60


async def test_a_failed_job_records_its_error(server, tmp_path: Path) -> None:
    server.state.faults.add({"action": "fail_job", "message": "T2 exceeded", "error_code": "circuit_too_long"})
    async with AsyncIQMClient(server.url, ledger=tmp_path / "l.db") as client:
        job = await client.submit(bell(), shots=10)
        await job.wait_async(timeout_seconds=60)
        entry = client.ledger.job(job.job_id)
    assert entry.status == "failed"
    assert entry.error == "circuit_too_long: T2 exceeded"


async def test_jobs_filters_by_status_tags_since_and_limit(server, tmp_path: Path) -> None:
    async with AsyncIQMClient(server.url, ledger=tmp_path / "l.db") as client:
        done = await client.submit(bell(), shots=10, tags="a")
        await done.wait_async(timeout_seconds=60)
        server.state.hold()
        waiting = [await client.submit(bell(), shots=10, tags=["a", "b"]) for _ in range(2)]
        assert [e.job_id for e in await client.jobs()] == [waiting[1].job_id, waiting[0].job_id, done.job_id]
        assert [e.job_id for e in await client.jobs(tags=["a", "b"])] == [w.job_id for w in reversed(waiting)]
        assert [e.job_id for e in await client.jobs(status="completed")] == [done.job_id]
        assert len(await client.jobs(status="unfinished")) == 2
        assert len(await client.jobs(limit=1)) == 1
        assert await client.jobs(since=timedelta(seconds=-60)) == []  # a minute in the future
        assert len(await client.jobs(since=datetime.now(timezone.utc) - timedelta(minutes=5))) == 3
        server.state.release()
        for w in waiting:
            assert server.state.wait_for_status(w.job_id, "completed", timeout=60)
        # The ledger only learns what the client reads: refresh=True asks the server for the unfinished ones.
        assert len(await client.jobs(status="unfinished")) == 2
        refreshed = await client.jobs(refresh=True)
        assert {e.status for e in refreshed} == {"completed"}


async def test_usage_sums_qpu_seconds_by_quantum_computer_and_tag(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)

    def job(i: int, qpu: float, tags: tuple[str, ...], qc: str = "garnet") -> None:
        tl = (
            TimelineEntry("iqm-server", "created", t0),
            TimelineEntry("iqm-station-control", "received", t0 + timedelta(seconds=5)),
            TimelineEntry("iqm-station-control", "completed", t0 + timedelta(seconds=5 + qpu)),
            TimelineEntry("iqm-server", "ready", t0 + timedelta(seconds=6 + qpu)),
        )
        jid = f"00000000-0000-0000-0000-{i:012d}"
        ledger.record_submit(
            JobData(id=jid, status="waiting"),
            server_url="https://x.example",
            quantum_computer=qc,
            circuits=1,
            shots=1,
            tags=tags,
        )
        ledger.note(JobData(id=jid, status="completed", timeline=tl))

    job(1, 2.0, ("a",))
    job(2, 3.0, ("a", "b"))
    job(3, 4.0, ())
    job(4, 10.0, ("a",), qc="emerald")
    report = ledger.usage()
    assert {k: (r.jobs, r.qpu_seconds) for k, r in report.totals.items()} == {"emerald": (1, 10.0), "garnet": (3, 9.0)}
    rows = {(r.quantum_computer, r.tag): (r.jobs, r.qpu_seconds) for r in report.rows}
    assert rows == {
        ("emerald", "a"): (1, 10.0),
        ("garnet", "a"): (2, 5.0),
        ("garnet", "b"): (1, 3.0),
        ("garnet", None): (1, 4.0),
    }
    entry = ledger.job("00000000-0000-0000-0000-000000000002")
    assert (entry.queue_seconds, entry.run_seconds, entry.qpu_seconds) == (5.0, 3.0, 3.0)
    assert ledger.usage(since=datetime.now(timezone.utc) + timedelta(days=1)).totals == {}


def test_execution_entries_win_over_received_completed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    jid = "00000000-0000-0000-0000-000000000009"
    ledger.record_submit(
        JobData(id=jid, status="waiting"),
        server_url="https://u:p@h.example/x?y=1",
        quantum_computer="q",
        circuits=1,
        shots=1,
    )
    ledger.note(
        JobData(
            id=jid,
            status="completed",
            timeline=(
                TimelineEntry("iqm-station-control", "received", t0),
                TimelineEntry("iqm-station-control", "execution_started", t0 + timedelta(seconds=1)),
                TimelineEntry("iqm-station-control", "execution_ended", t0 + timedelta(seconds=1.5)),
                TimelineEntry("iqm-station-control", "completed", t0 + timedelta(seconds=4)),
            ),
        )
    )
    entry = ledger.job(jid)
    assert entry.qpu_seconds == 0.5 and entry.run_seconds == 4.0
    assert entry.server_url == "https://h.example"  # no credentials, path or query stored


def test_a_final_status_is_never_overwritten_by_older_news(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    jid = "00000000-0000-0000-0000-000000000001"
    ledger.record_submit(
        JobData(id=jid, status="waiting"), server_url="http://127.0.0.1:1", quantum_computer="q", circuits=1, shots=1
    )
    ledger.note(JobData(id=jid, status="cancelled"))
    Ledger(ledger.path).note(JobData(id=jid, status="processing"))  # another process, stale data
    assert ledger.job(jid).status == "cancelled"


def test_unchanged_job_data_is_not_written_again(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    jid = "00000000-0000-0000-0000-000000000001"
    ledger.record_submit(
        JobData(id=jid, status="waiting", queue_position=3),
        server_url="http://127.0.0.1:1",
        quantum_computer="q",
        circuits=1,
        shots=1,
    )
    before = ledger.job(jid).updated
    conn = sqlite3.connect(ledger.path)
    conn.execute("UPDATE jobs SET status = 'marker' WHERE job_id = ?", (jid,))
    conn.commit()
    conn.close()
    ledger.note(JobData(id=jid, status="waiting", queue_position=2))  # same status and timeline: no write
    assert ledger.job(jid).status == "marker" and ledger.job(jid).updated == before


def test_several_processes_write_one_ledger(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    code = textwrap.dedent(
        f"""
        import sys
        from iqm_async.ledger import Ledger
        from iqm_async.models import JobData
        ledger = Ledger({str(path)!r})
        k = int(sys.argv[1])
        for i in range(50):
            jid = f"00000000-0000-0000-{{k:04d}}-{{i:012d}}"
            ledger.record_submit(JobData(id=jid, status="waiting"), server_url="http://127.0.0.1:1",
                                 quantum_computer="q", circuits=1, shots=1, tags=[f"p{{k}}"])
            ledger.note(JobData(id=jid, status="completed"))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(k)], stderr=subprocess.PIPE, text=True) for k in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "could not" not in err
    ledger = Ledger(path)
    entries = ledger.jobs()
    assert len(entries) == 200 and {e.status for e in entries} == {"completed"}
    assert len(ledger.jobs(tags="p3")) == 50
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_broken_ledger_never_stops_a_job(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ledger = Ledger(blocker / "jobs.sqlite3")  # its directory cannot be created
    ledger.record_submit(
        JobData(id="00000000-0000-0000-0000-000000000001", status="waiting"),
        server_url="http://127.0.0.1:1",
        quantum_computer="q",
        circuits=1,
        shots=1,
    )
    assert "could not record job" in caplog.text


def test_open_ledger_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_ledger(None) is None  # opt-in for the library
    assert open_ledger(None, default=True).path == default_ledger_path()  # on for the CLI
    assert open_ledger(False, default=True) is None
    assert open_ledger(tmp_path / "x.db").path == tmp_path / "x.db"
    monkeypatch.setenv("IQM_ASYNC_LEDGER", str(tmp_path / "env.db"))
    assert open_ledger(None).path == tmp_path / "env.db"
    monkeypatch.setenv("IQM_ASYNC_LEDGER", "off")
    assert open_ledger(None, default=True) is None
    monkeypatch.setenv("IQM_ASYNC_LEDGER", "1")
    assert open_ledger(None).path == default_ledger_path()


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG applies to Linux and other Unixes")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_ledger_path() == tmp_path / "iqm-async" / "jobs.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # invalid per the spec: ignored
    assert default_ledger_path() == Path.home() / ".local" / "share" / "iqm-async" / "jobs.sqlite3"


async def test_jobs_without_a_ledger_says_how_to_turn_it_on(server) -> None:
    async with AsyncIQMClient(server.url) as client:
        assert client.ledger is None
        with pytest.raises(LedgerError, match="ledger=True"):
            await client.jobs()


@pytest.mark.parametrize("bad", ["", "  ", 3, ["ok", None], "x" * 201])
async def test_bad_tags_are_refused_before_sending(server, tmp_path: Path, bad) -> None:
    async with AsyncIQMClient(server.url, ledger=tmp_path / "l.db") as client:
        with pytest.raises(CircuitValidationError, match="tag"):
            await client.submit(bell(), shots=10, tags=bad)
    assert not [r for r in server.state.requests() if r.method == "POST"]


async def test_a_batch_records_every_job_with_its_tags(server, tmp_path: Path) -> None:
    circuits = [bell() for _ in range(6)]
    async with AsyncIQMClient(server.url, ledger=tmp_path / "l.db") as client:
        batch = client.run_batch(circuits, shots=10, circuits_per_job=2, tags=["sweep"], progress=False)
        await batch.results()
        entries = await client.jobs(tags="sweep")
    assert sorted(e.job_id for e in entries) == sorted(batch.job_ids) and len(entries) == 3
    assert {e.status for e in entries} == {"completed"} and {e.circuits for e in entries} == {2}


def test_parse_since() -> None:
    assert parse_since("2026-11-30T12:00:00Z") == datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_since("yesterday")
