"""Simulation semantics and the E7/E8 formats, checked over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from srvkit import PI, WAIT, bell, h_like, inst, job, measure, prx, submit

from iqm_async.models import Circuit
from iqm_async.server import ServerState, serve_in_thread
from iqm_async.server.config import RateLimitConfig
from iqm_async.server.executor import SHOT_CHUNK, compile_circuit, counts_from_bits, derive_seed


def _run(client: httpx.Client, state: ServerState, body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    job_id = submit(client, body)
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed", client.get(f"/api/v1/jobs/{job_id}").text
    measurements = client.get(f"/api/v1/jobs/{job_id}/artifacts/measurements").json()
    counts = client.get(f"/api/v1/jobs/{job_id}/artifacts/measurement_counts").json()
    return measurements, counts


def test_bell_circuit_gives_only_00_and_11(client: httpx.Client, state: ServerState) -> None:
    measurements, counts = _run(client, state, job(bell(), shots=400))
    assert len(measurements) == 1
    m = measurements[0]
    assert set(m) == {"c_2_0_0", "c_2_0_1"}
    assert all(len(m[k]) == 400 for k in m)
    assert all(len(row) == 1 and row[0] in (0, 1) for k in m for row in m[k])
    assert m["c_2_0_0"] == m["c_2_0_1"]
    assert counts[0]["measurement_keys"] == ["c_2_0_0", "c_2_0_1"]
    assert set(counts[0]["counts"]) == {"00", "11"}
    assert sum(counts[0]["counts"].values()) == 400
    assert 100 < counts[0]["counts"]["00"] < 300


def test_outcomes_are_reproducible_under_a_seed(client: httpx.Client, state: ServerState) -> None:
    body = job(bell("a"), bell("b", "QB3", "QB4"), shots=64)
    first = [_run(client, state, body)[0] for _ in range(2)]
    state.reset()
    second = [_run(client, state, body)[0] for _ in range(2)]
    assert first == second
    # Different jobs and different circuits of one job draw different samples.
    assert first[0] != first[1]
    assert first[0][0]["c_2_0_0"] != first[0][1]["c_2_0_0"]


def test_same_seed_on_another_server_gives_the_same_outcomes(client: httpx.Client, state: ServerState) -> None:
    body = job(bell(), shots=50)
    here = _run(client, state, body)[0]
    with (
        serve_in_thread(seed=state.config.seed, rate_limit=RateLimitConfig(enabled=False)) as other,
        httpx.Client(base_url=other.url) as other_client,
    ):
        there = _run(other_client, other.state, body)[0]
    assert here == there


def test_e8_keys_in_first_appearance_order_and_bits_concatenated(client: httpx.Client, state: ServerState) -> None:
    circuit = {
        "name": "order",
        "instructions": [
            prx("QB2", PI),
            measure("z_1_1_0", "QB2"),  # appears first although its register comes later
            measure("a_2_0_1", "QB1"),
            prx("QB3", PI),
            measure("a_2_0_0", "QB3"),
        ],
    }
    measurements, counts = _run(client, state, job(circuit, shots=5))
    assert measurements == [{"z_1_1_0": [[1]] * 5, "a_2_0_1": [[0]] * 5, "a_2_0_0": [[1]] * 5}]
    assert counts == [{"measurement_keys": ["z_1_1_0", "a_2_0_1", "a_2_0_0"], "counts": {"101": 5}}]


def test_multi_component_measure_gives_one_bit_per_component(client: httpx.Client, state: ServerState) -> None:
    circuit = {"name": "multi", "instructions": [prx("QB2", PI), measure("both", "QB1", "QB2")]}
    measurements, counts = _run(client, state, job(circuit, shots=3))
    assert measurements == [{"both": [[0, 1], [0, 1], [0, 1]]}]
    assert counts == [{"measurement_keys": ["both"], "counts": {"01": 3}}]


def test_cc_prx_applies_only_when_the_feedback_bit_is_one(client: httpx.Client, state: ServerState) -> None:
    # Measure a superposition, then flip the qubit back to |0> only where the measurement gave 1.
    circuit = {
        "name": "active_reset",
        "instructions": [
            h_like("QB1"),
            measure("m_2_0_0", "QB1", feedback_key="m_2_0_0"),
            inst("cc_prx", "QB1", angle=PI, phase=0.0, feedback_key="m_2_0_0", feedback_qubit="QB1"),
            measure("m_2_0_1", "QB1"),
        ],
    }
    measurements, counts = _run(client, state, job(circuit, shots=200))
    first = [row[0] for row in measurements[0]["m_2_0_0"]]
    assert 0 < sum(first) < 200
    assert all(row == [0] for row in measurements[0]["m_2_0_1"])
    assert set(counts[0]["counts"]) == {"00", "10"}


def test_cc_prx_uses_the_bit_of_the_same_shot_on_another_qubit(client: httpx.Client, state: ServerState) -> None:
    circuit = {
        "name": "copy",
        "instructions": [
            h_like("QB1"),
            measure("src", "QB1", feedback_key="fb"),
            inst("cc_prx", "QB2", angle=PI, phase=0.0, feedback_key="fb", feedback_qubit="QB1"),
            measure("dst", "QB2"),
        ],
    }
    measurements, _ = _run(client, state, job(circuit, shots=100))
    assert measurements[0]["src"] == measurements[0]["dst"]


def test_mid_circuit_measurement_and_reset(client: httpx.Client, state: ServerState) -> None:
    circuit = {
        "name": "mid",
        "instructions": [
            prx("QB1", PI),
            measure("before", "QB1"),
            inst("reset", "QB1"),
            inst("barrier", "QB1", "QB2"),
            inst("delay", "QB1", duration=1e-6),
            measure("after", "QB1"),
        ],
    }
    measurements, _ = _run(client, state, job(circuit, shots=4))
    assert measurements == [{"before": [[1]] * 4, "after": [[0]] * 4}]


def test_prx_phase_matters(client: httpx.Client, state: ServerState) -> None:
    # ry(pi/2) then ry(-pi/2) (phase pi/2 vs -pi/2) cancel; ry(pi/2) twice makes |1>.
    back = {
        "name": "back",
        "instructions": [prx("QB1", PI / 2, PI / 2), prx("QB1", PI / 2, -PI / 2), measure("k", "QB1")],
    }
    twice = {
        "name": "twice",
        "instructions": [prx("QB1", PI / 2, PI / 2), prx("QB1", PI / 2, PI / 2), measure("k", "QB1")],
    }
    measurements, _ = _run(client, state, job(back, twice, shots=20))
    assert measurements == [{"k": [[0]] * 20}, {"k": [[1]] * 20}]


def test_heralding_zeros_keeps_every_shot(client: httpx.Client, state: ServerState) -> None:
    measurements, _ = _run(client, state, job(bell(), shots=33, heralding_mode="zeros"))
    assert all(len(rows) == 33 for rows in measurements[0].values())


def test_circuit_without_measurements(client: httpx.Client, state: ServerState) -> None:
    circuit = {"name": "silent", "instructions": [prx("QB1", PI)]}
    measurements, counts = _run(client, state, job(circuit, bell(), shots=2))
    assert measurements[0] == {}
    assert counts[0] == {"measurement_keys": [], "counts": {}}
    assert set(measurements[1]) == {"c_2_0_0", "c_2_0_1"}


def test_shots_beyond_one_chunk(client: httpx.Client, state: ServerState) -> None:
    shots = SHOT_CHUNK + 17
    circuit = {"name": "x", "instructions": [prx("QB1", PI), measure("k", "QB1")]}
    measurements, counts = _run(client, state, job(circuit, shots=shots))
    assert len(measurements[0]["k"]) == shots
    assert counts == [{"measurement_keys": ["k"], "counts": {"1": shots}}]


def test_star_layout_move_swaps_qubit_and_resonator() -> None:
    with (
        serve_in_thread(layout="star", qubits=3, seed=5, rate_limit=RateLimitConfig(enabled=False)) as star,
        httpx.Client(base_url=star.url) as client,
    ):
        dqa = client.get("/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture").json()
        assert dqa["computational_resonators"] == ["COMP_R"]
        assert dqa["gates"]["move"]["implementations"]["tgss_crf"]["loci"] == [
            ["QB1", "COMP_R"],
            ["QB2", "COMP_R"],
            ["QB3", "COMP_R"],
        ]
        sqa = client.get("/api/v1/quantum-computers/sim/artifacts/static-quantum-architectures").json()
        assert sqa[0]["computational_resonators"] == ["COMP_R"]
        # A closed MOVE sandwich gives the state back to QB1; cz with the emptied resonator does nothing.
        sandwich = {
            "name": "sandwich",
            "instructions": [
                prx("QB1", PI),
                inst("move", "QB1", "COMP_R"),
                inst("move", "QB1", "COMP_R"),
                inst("cz", "QB2", "COMP_R"),
                measure("a", "QB1"),
                measure("b", "QB2"),
            ],
        }
        # Without MOVE validation the swap itself is visible: |1> hops from QB1 via COMP_R to QB2.
        hop = {
            "name": "hop",
            "instructions": [
                prx("QB1", PI),
                inst("move", "QB1", "COMP_R"),
                inst("move", "QB2", "COMP_R"),
                measure("a", "QB1"),
                measure("b", "QB2"),
            ],
        }
        measurements, _ = _run(client, star.state, job(sandwich, shots=5))
        assert measurements == [{"a": [[1]] * 5, "b": [[0]] * 5}]
        measurements, _ = _run(
            client,
            star.state,
            job(hop, shots=5, move_gate_validation="none", move_gate_frame_tracking="none"),
        )
        assert measurements == [{"a": [[0]] * 5, "b": [[1]] * 5}]
        bad = job({"name": "bad", "instructions": [inst("move", "QB1", "COMP_R"), measure("a", "QB1")]})
        r = client.post("/api/v1/jobs/sim/circuit", json=bad)
        assert r.status_code == 422 and r.json()["error_code"] == "validation_error"


# -- executor helpers, without HTTP -------------------------------------------------------------


def test_compile_circuit_uses_only_touched_components() -> None:
    circuit = Circuit.from_json(
        {
            "name": "c",
            "instructions": [
                inst("barrier", *[f"QB{i}" for i in range(1, 21)]),
                prx("QB7", PI),
                measure("k", "QB7", "QB9"),
            ],
        },
        "c",
    )
    compiled = compile_circuit(circuit)
    assert compiled.circuit is not None
    assert compiled.circuit.num_qubits == 2
    assert compiled.num_clbits == 2
    assert compiled.keys == (("k", (0, 1)),)


def test_counts_from_bits_concatenates_without_reversal() -> None:
    circuit = Circuit.from_json({"name": "c", "instructions": [measure("b", "QB1"), measure("a", "QB2", "QB3")]}, "c")
    compiled = compile_circuit(circuit)
    bits = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 1]], dtype=np.uint8)
    assert counts_from_bits(compiled, bits) == {
        "measurement_keys": ["b", "a"],
        "counts": {"100": 1, "101": 1, "011": 1},
    }


@pytest.mark.parametrize("args", [(1, 0, 0, 0), (1, 1, 0, 0), (1, 0, 1, 0), (1, 0, 0, 1), (2, 0, 0, 0)])
def test_derive_seed_depends_on_every_part(args: tuple[int, int, int, int]) -> None:
    assert derive_seed(*args) != derive_seed(0, 0, 0, 0)
    assert derive_seed(*args) == derive_seed(*args)
    assert 0 <= derive_seed(*args) < 2**31
