"""IQM's chip shapes on the embedded server: several quantum computers at once, per-chip DQA/SQA, active width."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from srvkit import PI, WAIT, assert_error, h_like, inst, job, measure, prx, submit

from iqm_async.devices import CHIPS, chip, chip_names, generic_chip
from iqm_async.models import Circuit
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_async.server.__main__ import build_parser
from iqm_async.server.checks import entangled_groups
from iqm_async.server.executor import compile_circuit

ALL = ("sim", "garnet", "emerald", "sirius", "deneb")


@pytest.fixture(scope="module")
def multi() -> Iterator[RunningServer]:
    """One server serving every chip shape at once."""
    with serve_in_thread(
        chip="sim",
        extra_chips=("garnet", "emerald", "sirius", "deneb"),
        seed=5,
        rate_limit=RateLimitConfig(enabled=False),
    ) as running:
        yield running


@pytest.fixture
def http(multi: RunningServer) -> Iterator[httpx.Client]:
    multi.state.reset()
    with httpx.Client(base_url=multi.url, timeout=10.0) as c:
        yield c


def counts(http: httpx.Client, multi: RunningServer, job_id: str) -> dict[str, int]:
    assert multi.state.wait_for_status(job_id, timeout=WAIT) == "completed"
    r = http.get(f"/api/v1/jobs/{job_id}/artifacts/measurement_counts")
    assert r.status_code == 200, r.text
    out: dict[str, int] = r.json()[0]["counts"]
    return out


# -- the shapes themselves ------------------------------------------------------------------------


def test_named_shapes_have_iqm_sizes_and_names() -> None:
    sizes = {name: (len(c.qubits), c.resonators, len(c.connectivity)) for name, c in CHIPS.items()}
    assert sizes == {
        "garnet": (20, (), 30),
        "emerald": (54, (), 90),
        "sirius": (16, ("COMP_R",), 16),
        "deneb": (6, ("CR1",), 6),
    }
    assert chip("garnet").qubits[0] == "QB1" and chip("emerald").qubits[-1] == "QB54"
    assert set(chip_names()) == set(ALL)
    with pytest.raises(ValueError, match="unknown chip"):
        chip("nope")


@pytest.mark.parametrize("name", list(CHIPS))
def test_shape_is_consistent(name: str) -> None:
    shape = chip(name)
    components = set(shape.components)
    # every coupler once, between known components, and CZ calibrated on exactly the couplers
    assert len({frozenset(p) for p in shape.connectivity}) == len(shape.connectivity)
    assert all(set(p) <= components for p in shape.connectivity)
    assert {frozenset(p) for p in shape.cz_loci} == {frozenset(p) for p in shape.connectivity}
    dqa = shape.dqa()
    assert dqa.calibration_set_id == shape.calibration_set_id
    assert set(dqa.gates) == (
        {"prx", "cc_prx", "cz", "measure", "move"} if shape.is_star else {"prx", "cc_prx", "cz", "measure"}
    )
    if shape.is_star:
        # a star: every qubit couples only to the resonator, through MOVE and CZ
        assert dqa.gates["move"].loci == tuple((q, shape.resonators[0]) for q in shape.qubits)
        assert all(shape.resonators[0] in p for p in shape.connectivity)


def test_garnet_keeps_iqm_cz_orientation() -> None:
    loci = chip("garnet").dqa().gates["cz"].loci
    assert ("QB8", "QB3") in loci and ("QB3", "QB8") not in loci
    assert ("QB3", "QB8") in chip("garnet").connectivity


def test_generic_chip_matches_the_old_sim_layouts() -> None:
    assert generic_chip(4, "line").connectivity == (("QB1", "QB2"), ("QB2", "QB3"), ("QB3", "QB4"))
    star = generic_chip(3, "star")
    assert star.resonators == ("COMP_R",) and star.move_loci == star.cz_loci


# -- serving several quantum computers ----------------------------------------------------------


def test_e1_lists_every_quantum_computer(http: httpx.Client) -> None:
    qcs = http.get("/api/v1/quantum-computers").json()["quantum_computers"]
    assert [q["alias"] for q in qcs] == list(ALL)
    assert len({q["id"] for q in qcs}) == len(ALL)
    assert http.get("/api/v1/about").json()["quantum_computers"] == list(ALL)


@pytest.mark.parametrize("name", list(CHIPS))
def test_e2_e3_per_quantum_computer(http: httpx.Client, name: str) -> None:
    shape = chip(name)
    dqa = http.get(f"/api/v1/calibration-sets/{name}/default/dynamic-quantum-architecture").json()
    assert dqa["qubits"] == list(shape.qubits)
    assert dqa["computational_resonators"] == list(shape.resonators)
    assert dqa["calibration_set_id"] == shape.calibration_set_id
    assert [tuple(x) for x in dqa["gates"]["cz"]["implementations"]["tgss"]["loci"]] == list(shape.cz_loci)
    sqa = http.get(f"/api/v1/quantum-computers/{name}/artifacts/static-quantum-architectures").json()
    assert [tuple(x) for x in sqa[0]["connectivity"]] == list(shape.connectivity)
    assert sqa[0]["dut_label"] == shape.dut_label
    assert http.get(f"/api/v1/quantum-computers/{name}/health").status_code == 200
    # a calibration set of one quantum computer is unknown to another
    other = "garnet" if name != "garnet" else "deneb"
    r = http.get(f"/api/v1/calibration-sets/{other}/{shape.calibration_set_id}/dynamic-quantum-architecture")
    assert_error(r, 404, "calibration_set_not_found")


def test_unknown_quantum_computer_is_404(http: httpx.Client) -> None:
    assert_error(
        http.get("/api/v1/calibration-sets/nope/default/dynamic-quantum-architecture"),
        404,
        "quantum_computer_not_found",
    )
    assert_error(http.post("/api/v1/jobs/nope/circuit", json=job()), 404, "quantum_computer_not_found")


def test_jobs_are_validated_against_their_own_chip(http: httpx.Client, multi: RunningServer) -> None:
    # QB1–QB4 is a Garnet coupler but not a coupler of the 20-qubit square sim chip
    bell = {
        "name": "bell",
        "instructions": [
            h_like("QB1"),
            h_like("QB4"),
            inst("cz", "QB1", "QB4"),
            prx("QB4", PI / 2, -PI / 2),
            measure("c_2_0_0", "QB1"),
            measure("c_2_0_1", "QB4"),
        ],
    }
    assert_error(http.post("/api/v1/jobs/sim/circuit", json=job(bell)), 422, "validation_error")
    job_id = submit(http, job(bell, shots=200), qc="garnet")
    assert set(counts(http, multi, job_id)) == {"00", "11"}
    # a calibration set of another quantum computer is refused
    body = job(bell, calibration_set_id=chip("deneb").calibration_set_id)
    assert_error(http.post("/api/v1/jobs/garnet/circuit", json=body), 422, "validation_error")


def test_star_chip_runs_move_sandwich(http: httpx.Client, multi: RunningServer) -> None:
    # Bell pair on Deneb: QB1's state moves into CR1, CZ with QB2, moves back.
    circuit = {
        "name": "star_bell",
        "instructions": [
            h_like("QB1"),
            h_like("QB2"),
            inst("move", "QB1", "CR1"),
            inst("cz", "QB2", "CR1"),
            inst("move", "QB1", "CR1"),
            prx("QB2", PI / 2, -PI / 2),
            measure("c_2_0_0", "QB1"),
            measure("c_2_0_1", "QB2"),
        ],
    }
    job_id = submit(http, job(circuit, shots=400), qc="deneb")
    result = counts(http, multi, job_id)
    assert set(result) == {"00", "11"} and min(result.values()) > 100


def test_calibration_sets_are_per_quantum_computer(multi: RunningServer, http: httpx.Client) -> None:
    r = http.post("/_control/calibration-sets", json={"quantum_computer": "sirius", "make_default": True})
    assert r.status_code == 201
    new = r.json()["id"]
    assert (
        http.get("/api/v1/calibration-sets/sirius/default/dynamic-quantum-architecture").json()["calibration_set_id"]
        == new
    )
    assert (
        http.get("/api/v1/calibration-sets/deneb/default/dynamic-quantum-architecture").json()["calibration_set_id"]
        == chip("deneb").calibration_set_id
    )
    assert http.post("/_control/calibration-sets", json={"quantum_computer": "nope"}).status_code == 400
    multi.state.reset()
    assert (
        http.get("/api/v1/calibration-sets/sirius/default/dynamic-quantum-architecture").json()["calibration_set_id"]
        == chip("sirius").calibration_set_id
    )


# -- 54 qubits: only what a circuit touches, group by group ---------------------------------------


def _tree(n: int) -> list[tuple[str, str, tuple[str, str]]]:
    """(parent, child, coupler as calibrated) for a breadth-first tree of ``n`` Emerald qubits from QB1."""
    loci = chip("emerald").cz_loci
    seen, queue, out = {"QB1"}, ["QB1"], []
    while queue and len(seen) < n:
        q = queue.pop(0)
        for locus in loci:
            if q in locus and len(seen) < n:
                other = locus[0] if locus[1] == q else locus[1]
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
                    out.append((q, other, locus))
    return out


def ghz(n: int) -> dict[str, Any]:
    """GHZ over ``n`` coupled Emerald qubits: H on QB1, then CNOT = H·CZ·H along a spanning tree."""
    tree = _tree(n)
    instructions = [h_like("QB1")]
    for _, child, (a, b) in tree:
        instructions += [prx(child, PI / 2, PI / 2), inst("cz", a, b), prx(child, -PI / 2, PI / 2)]
    qubits = ["QB1"] + [child for _, child, _ in tree]
    instructions += [measure(f"c_{n}_0_{i}", q) for i, q in enumerate(qubits)]
    return {"name": f"ghz{n}", "instructions": instructions}


def test_every_qubit_of_emerald_in_one_circuit(http: httpx.Client, multi: RunningServer) -> None:
    qubits = chip("emerald").qubits
    circuit = {
        "name": "x_all",
        "instructions": [prx(q, PI) for q in qubits] + [measure(f"c_54_0_{i}", q) for i, q in enumerate(qubits)],
    }
    job_id = submit(http, job(circuit, shots=50), qc="emerald")
    assert counts(http, multi, job_id) == {"1" * 54: 50}


def test_ghz_on_emerald_gives_only_all_equal(http: httpx.Client, multi: RunningServer) -> None:
    circuit = ghz(14)
    job_id = submit(http, job(circuit, shots=400), qc="emerald")
    result = counts(http, multi, job_id)
    assert set(result) == {"0" * 14, "1" * 14} and min(result.values()) > 120


def test_too_wide_entangled_group_is_refused_with_iqm_error_body(http: httpx.Client) -> None:
    body = assert_error(http.post("/api/v1/jobs/emerald/circuit", json=job(ghz(21))), 422, "validation_error")
    assert "entangles 21 components" in body["message"] and "at most 20" in body["message"]


def test_entangled_groups_and_parts() -> None:
    circuit = Circuit.from_json(
        {
            "name": "c",
            "instructions": [
                inst("cz", "QB1", "QB2"),
                prx("QB3", PI),
                measure("m", "QB3", feedback_key="f"),
                inst("cc_prx", "QB4", angle=PI, phase=0.0, feedback_key="f", feedback_qubit="QB3"),
                prx("QB5", PI),
                measure("k", "QB1", "QB2", "QB4", "QB5"),
            ],
        },
        "c",
    )
    assert sorted(map(sorted, entangled_groups(circuit))) == [["QB1", "QB2"], ["QB3", "QB4"], ["QB5"]]
    compiled = compile_circuit(circuit)
    assert compiled.num_clbits == 5 and compiled.width == 5  # small groups share one Aer circuit


def test_config_and_cli_accept_chips() -> None:
    assert ServerConfig(chip="garnet").chips == ("garnet",)
    assert ServerConfig(extra_chips=["deneb"]).chips == ("sim", "deneb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown chip"):
        ServerConfig(chip="nope")
    with pytest.raises(ValueError, match="own alias"):
        ServerConfig(alias="garnet", extra_chips=("garnet",))
    args = build_parser().parse_args(["--chip", "emerald", "--chip", "sirius"])
    assert args.chip == ["emerald", "sirius"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--chip", "nope"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_command_line_serves_named_chips() -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iqm_async.server", "--chip", "garnet", "--chip", "deneb", "--no-rate-limit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=repo,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        assert proc.stdout.readline().strip() == "quantum computers: garnet, deneb"
        qcs = httpx.get(f"{url}/api/v1/quantum-computers").json()["quantum_computers"]
        assert [q["alias"] for q in qcs] == ["garnet", "deneb"]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
