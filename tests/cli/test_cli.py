"""``iqm-async`` end to end: a subprocess per command against the embedded server started by the test session."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from qiskit import QuantumCircuit, qpy

from iqm_async.result_files import load_results

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_submit_wait_result_jobs_usage(iqm, qasm_files, server, tmp_path: Path) -> None:
    bell, ghz = qasm_files
    sub = iqm("submit", str(bell), str(ghz), "--shots", "500", "--tag", "demo", "--tag", "cli")
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip()
    assert UUID_RE.match(job_id)

    waited = iqm("wait", job_id, "--timeout", "60")
    assert (waited.returncode, waited.stdout.strip()) == (0, "completed"), waited.stderr

    res = iqm("result", job_id, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [c["name"] for c in doc["circuits"]] == ["bell", "ghz"]
    bell_counts, ghz_counts = (c["counts"] for c in doc["circuits"])
    # Ideal Bell and GHZ states: only the all-equal outcomes, each about half the time.
    assert set(bell_counts) <= {"00", "11"} and sum(bell_counts.values()) == 500
    assert set(ghz_counts) <= {"000", "111"} and sum(ghz_counts.values()) == 500
    assert min(bell_counts.values()) > 150 and min(ghz_counts.values()) > 150

    text = iqm("result", job_id)
    assert text.returncode == 0 and text.stdout.splitlines()[0].startswith("bell (500 shots): ")

    listed = json.loads(iqm("jobs", "--json").stdout)
    assert [(e["job_id"], e["status"], e["tags"], e["circuits"], e["shots"]) for e in listed] == [
        (job_id, "completed", ["demo", "cli"], 2, 500)
    ]
    assert listed[0]["qpu_seconds"] is not None and listed[0]["server_url"] == server.url
    table = iqm("jobs", "--tag", "demo").stdout.splitlines()
    assert table[0].split()[:4] == ["JOB", "ID", "SUBMITTED", "QC"] and job_id in table[1]
    assert iqm("jobs", "--tag", "other", "--json").stdout.strip() == "[]"
    assert json.loads(iqm("jobs", "--status", "failed", "--json").stdout) == []
    assert json.loads(iqm("jobs", "--since", "2999-01-01", "--json").stdout) == []

    usage = json.loads(iqm("usage", "--json").stdout)
    assert usage["totals"][0]["quantum_computer"] == "sim" and usage["totals"][0]["jobs"] == 1
    assert {r["tag"] for r in usage["by_tag"]} == {"demo", "cli"}


def test_result_output_saves_a_loadable_result(iqm, qasm_files, tmp_path: Path) -> None:
    bell, _ = qasm_files
    job_id = iqm("submit", str(bell), "--shots", "64").stdout.strip()
    out = tmp_path / "bell.json.gz"
    res = iqm("result", job_id, "--output", str(out), "--timeout", "60")
    assert res.returncode == 0 and res.stdout == "" and "saved" in res.stderr
    [loaded] = load_results(out)
    memory = iqm("result", job_id, "--memory", "--json")
    shots = json.loads(memory.stdout)["circuits"][0]["memory"]
    assert loaded.get_memory(0) == shots and len(shots) == 64


def test_qpy_and_no_transpile(iqm, server, tmp_path: Path) -> None:
    qc = QuantumCircuit(2, 2, name="native")
    qc.r(3.141592653589793, 0.0, 0)
    qc.measure([0, 1], [0, 1])
    path = tmp_path / "native.qpy"
    with path.open("wb") as f:
        qpy.dump([qc, qc.copy(name="native2")], f)
    sub = iqm("submit", str(path), "--no-transpile", "--shots", "10", "--json")
    assert sub.returncode == 0, sub.stderr
    info = json.loads(sub.stdout)
    assert info["circuits"] == 2
    res = json.loads(iqm("result", info["job_id"], "--json").stdout)
    assert [c["counts"] for c in res["circuits"]] == [{"01": 10}, {"01": 10}]


def test_status_and_cancel_of_a_waiting_job(iqm, qasm_files, server) -> None:
    bell, _ = qasm_files
    server.state.hold()
    first = iqm("submit", str(bell), "--shots", "10").stdout.strip()
    second = iqm("submit", str(bell), "--shots", "10").stdout.strip()
    st = iqm("status", second)
    assert (st.returncode, st.stdout.strip()) == (0, "waiting (queue position 1)")
    doc = json.loads(iqm("status", second, "--json").stdout)
    assert doc["status"] == "waiting" and doc["queue_position"] == 1 and doc["qiskit_status"] == "QUEUED"
    cancelled = iqm("cancel", second)
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, "cancelled")
    again = iqm("cancel", second)
    assert again.returncode == 1 and "already ended (cancelled)" in again.stdout
    waited = iqm("wait", second)
    assert (waited.returncode, waited.stdout.strip()) == (6, "cancelled")
    no_result = iqm("result", second)
    assert no_result.returncode == 6 and "was cancelled" in no_result.stderr
    assert json.loads(iqm("jobs", "--status", "cancelled", "--json").stdout)[0]["job_id"] == second
    server.state.release()
    assert iqm("wait", first, "--timeout", "60").returncode == 0


def test_exit_codes(iqm, qasm_files, server, cli_env, tmp_path: Path) -> None:
    bell, _ = qasm_files
    unknown = iqm("status", str(uuid.uuid4()))
    assert unknown.returncode == 4 and "not found" in unknown.stderr
    assert iqm("status", "not-a-uuid").returncode == 2
    server.state.faults.add({"action": "fail_job", "message": "circuit too long", "error_code": "too_long"})
    failed_id = iqm("submit", str(bell), "--shots", "10").stdout.strip()
    failed = iqm("wait", failed_id, "--timeout", "60")
    assert failed.returncode == 5 and "too_long: circuit too long" in failed.stdout
    assert iqm("result", failed_id).returncode == 5
    server.state.hold()
    held = iqm("submit", str(bell), "--shots", "10").stdout.strip()
    timed_out = iqm("wait", held, "--timeout", "0.2")
    assert timed_out.returncode == 7 and held in timed_out.stderr
    server.state.release()
    no_url = {k: v for k, v in cli_env.items() if k != "IQM_SERVER_URL"}
    assert iqm("quantum-computers", env=no_url).returncode == 3
    assert iqm("quantum-computers", "--url", "http://example.com").returncode == 3  # plain http off loopback
    (tmp_path / "junk.qasm").write_text("hello")
    bad = iqm("submit", str(tmp_path / "junk.qasm"))
    assert bad.returncode == 2 and "not an OpenQASM" in bad.stderr
    assert iqm("submit").returncode == 2  # click usage error
    assert iqm("jobs", "--no-ledger").returncode == 3


def test_flags_win_over_the_environment(iqm, qasm_files, server, cli_env, tmp_path: Path) -> None:
    env = dict(cli_env, IQM_SERVER_URL="http://127.0.0.1:9")  # nothing listens there
    out = iqm("quantum-computers", "--json", "--url", server.url, env=env)
    assert out.returncode == 0, out.stderr
    assert [qc["alias"] for qc in json.loads(out.stdout)] == ["sim"]
    ledger = tmp_path / "elsewhere.sqlite3"
    job_id = iqm("submit", str(qasm_files[0]), "--url", server.url, "--ledger", str(ledger), env=env).stdout.strip()
    listed = iqm("jobs", "--json", "--ledger", str(ledger), "--url", server.url, env=env)
    assert [e["job_id"] for e in json.loads(listed.stdout)] == [job_id]
    # jobs lists the jobs of the configured server only: $IQM_SERVER_URL names another one here.
    assert json.loads(iqm("jobs", "--json", "--ledger", str(ledger), env=env).stdout) == []


def test_architecture(iqm, server) -> None:
    doc = json.loads(iqm("architecture", "--json").stdout)
    assert doc["qubits"][:2] == ["QB1", "QB2"] and "cz" in doc["gates"]
    text = iqm("architecture", "--calibration-set", doc["calibration_set_id"]).stdout
    assert text.splitlines()[0] == f"calibration set: {doc['calibration_set_id']}"
    assert iqm("architecture", "--calibration-set", str(uuid.uuid4())).returncode == 4


def test_batch_resume_reattaches_and_saves_outcomes(iqm, server, cli_env, tmp_path: Path) -> None:
    import anyio

    from iqm_async import AsyncIQMClient
    from tests.helpers import pattern, pattern_outcome

    journal = tmp_path / "sweep.jsonl"

    async def start() -> list[str]:
        async with AsyncIQMClient(server.url, ledger=cli_env["IQM_ASYNC_LEDGER"]) as client:
            batch = client.run_batch(
                [pattern(i) for i in range(6)], shots=8, circuits_per_job=2, journal=journal, progress=False
            )
            await batch.results()
            return list(batch.job_ids)

    job_ids = anyio.run(start)
    out = tmp_path / "sweep.json"
    res = iqm("batch", "resume", str(journal), "--output", str(out), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["circuits"] == 6 and summary["succeeded"] == 6 and summary["failed"] == []
    outcomes = load_results(out)
    assert [o.value.counts for o in outcomes] == [{pattern_outcome(i): 8} for i in range(6)]
    listed = json.loads(iqm("jobs", "--json").stdout)
    assert sorted(e["job_id"] for e in listed) == sorted(job_ids)
    assert {e["batch_id"] for e in listed} == {summary["batch_id"]}
    submits = [r for r in server.state.requests() if r.method == "POST" and r.path.endswith("/circuit")]
    assert len(submits) == 3  # resuming submitted nothing


def test_help_shows_examples_and_exit_codes(iqm) -> None:
    top = iqm("--help")
    assert top.returncode == 0
    assert "iqm-async submit bell.qasm" in top.stdout and "Exit codes:" in top.stdout
    for command in (
        "submit",
        "status",
        "wait",
        "result",
        "cancel",
        "jobs",
        "usage",
        "architecture",
        "quantum-computers",
    ):
        out = iqm(command, "--help")
        assert out.returncode == 0 and "Examples:" in out.stdout and "--url" in out.stdout, command
    serve = iqm("serve", "--help")
    assert serve.returncode == 0 and serve.stdout.startswith("usage: iqm-async serve") and "--seed" in serve.stdout


def test_console_script_is_declared() -> None:
    import tomllib

    from iqm_async.cli import main

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["iqm-async"] == "iqm_async.cli:main"
    assert callable(main)


def test_jobs_refresh_asks_the_server_about_unfinished_jobs(iqm, qasm_files, server) -> None:
    server.state.hold()
    job_id = iqm("submit", str(qasm_files[0]), "--shots", "10").stdout.strip()
    server.state.release()
    assert server.state.wait_for_status(job_id, "completed", timeout=60)
    # Nothing has read the job since its submit, so the ledger still says waiting until asked to refresh.
    assert [e["status"] for e in json.loads(iqm("jobs", "--json").stdout)] == ["waiting"]
    refreshed = json.loads(iqm("jobs", "--refresh", "--json").stdout)
    assert [(e["job_id"], e["status"]) for e in refreshed] == [(job_id, "completed")]
    assert refreshed[0]["qpu_seconds"] is not None


def test_submit_transpiles_for_a_star_chip(iqm, qasm_files, cli_env: dict[str, str]) -> None:
    """On a chip whose qubits couple through a resonator, two-qubit gates are routed with MOVEs."""
    from iqm_async.server import ServerConfig, serve_in_thread

    bell, ghz = qasm_files
    with serve_in_thread(ServerConfig(seed=11, chip="sirius")) as star:
        env = {**cli_env, "IQM_SERVER_URL": star.url}
        sub = iqm("submit", str(bell), str(ghz), "--shots", "400", env=env)
        assert sub.returncode == 0, sub.stderr
        res = iqm("result", sub.stdout.strip(), "--json", env=env)
        assert res.returncode == 0, res.stderr
        bell_counts, ghz_counts = (c["counts"] for c in json.loads(res.stdout)["circuits"])
        assert set(bell_counts) <= {"00", "11"} and min(bell_counts.values()) > 100
        assert set(ghz_counts) <= {"000", "111"} and min(ghz_counts.values()) > 100
        payload = star.state.store.payload(star.state.store.job_ids()[0])
        ops = {i["name"] for c in payload["circuits"] for i in c["instructions"]}
        assert "move" in ops
