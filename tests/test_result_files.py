"""Results that save and load: JSON-native ``to_dict()``, ``from_dict`` round trips, files of results and outcomes."""

from __future__ import annotations

import gzip
import json
import math
import uuid
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.result import Result

from iqm_async import AsyncIQMClient, CircuitResult
from iqm_async.batch import Outcome
from iqm_async.models import TimelineEntry
from iqm_async.qiskit_result import ResultParameters
from iqm_async.result_files import SavedError, json_native, load_results, save_results
from iqm_async.results import format_circuit

PI2 = math.pi / 2


def circuit(name: str = "two_regs") -> QuantumCircuit:
    from qiskit import ClassicalRegister, QuantumRegister

    qc = QuantumCircuit(QuantumRegister(3), ClassicalRegister(2, "a"), ClassicalRegister(1, "b"), name=name)
    qc.r(PI2, 0.0, 0)
    qc.r(PI2, 0.0, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    qc.metadata = {"theta": 0.5}
    return qc


@pytest.fixture
async def result_and_client(server):
    async with AsyncIQMClient(server.url) as client:
        job = await client.submit([circuit(), circuit("other")], shots=64)
        yield await job.result_async(timeout_seconds=60), client


async def test_to_dict_is_json_and_from_dict_gives_equal_counts_and_memory(result_and_client) -> None:
    result, _ = result_and_client
    text = json.dumps(result.to_dict())
    back = Result.from_dict(json.loads(text))
    for i in range(2):
        assert back.get_counts(i) == result.get_counts(i)
        assert back.get_memory(i) == result.get_memory(i)
    data = json.loads(text)
    assert data["results"][0]["calibration_set_id"] == str(result.results[0].calibration_set_id)
    assert data["parameters"]["shots"] == 64 and isinstance(data["parameters"]["calibration_set_id"], str)
    assert data["timeline"][0]["source"] == "iqm-server"
    # In memory the result keeps IQM's adapter's types.
    assert isinstance(result.results[0].calibration_set_id, uuid.UUID)
    assert isinstance(result.parameters, ResultParameters)


@pytest.mark.parametrize("name", ["r.json", "r.json.gz"])
async def test_a_result_saves_and_loads_with_its_types(result_and_client, tmp_path: Path, name: str) -> None:
    result, _ = result_and_client
    path = save_results(tmp_path / name, result)
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        json.loads(gzip.decompress(path.read_bytes()))
    else:
        json.loads(path.read_text())
    [loaded] = load_results(path)
    assert loaded.job_id == result.job_id and loaded.backend_name == result.backend_name
    assert [loaded.get_counts(i) for i in range(2)] == [result.get_counts(i) for i in range(2)]
    assert [loaded.get_memory(i) for i in range(2)] == [result.get_memory(i) for i in range(2)]
    assert loaded.results[0].calibration_set_id == result.results[0].calibration_set_id
    assert loaded.parameters == result.parameters
    assert loaded.timeline == result.timeline and isinstance(loaded.timeline[0], TimelineEntry)
    assert loaded.circuits == result.circuits
    assert loaded.results[0].data.metadata == {"theta": 0.5}
    json.dumps(loaded.to_dict())  # saving again works too


async def test_a_batchs_outcomes_save_and_load(server, tmp_path: Path) -> None:
    server.state.faults.add({"action": "fail_job", "message": "boom", "times": 1})
    async with AsyncIQMClient(server.url) as client:
        batch = client.run_batch([circuit() for _ in range(4)], shots=16, circuits_per_job=2, progress=False)
        outcomes = await batch.outcomes()
    assert [o.ok for o in outcomes].count(False) == 2
    save_results(tmp_path / "sweep.json", outcomes)
    loaded = load_results(tmp_path / "sweep.json")
    assert all(isinstance(o, Outcome) for o in loaded)
    for before, after in zip(outcomes, loaded):
        assert (after.index, after.job_id, after.position, after.ok) == (
            before.index,
            before.job_id,
            before.position,
            before.ok,
        )
        if before.ok:
            assert after.value == before.value  # hex forms rebuilt from the bitstrings are identical
        else:
            assert isinstance(after.error, SavedError)
            assert after.error.type_name == type(before.error).__name__ and "boom" in str(after.error)


def test_circuit_results_round_trip_exactly(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    bits = {
        "a_2_0_0": rng.integers(0, 2, (100, 1), dtype=np.uint8),
        "c_3_1_2": rng.integers(0, 2, (100, 1), dtype=np.uint8),
    }
    value = format_circuit(bits, 100, registers=[("a", 2), ("c", 3)])
    save_results(tmp_path / "c.json", [value, value])
    assert load_results(tmp_path / "c.json") == [value, value]


def test_saving_something_else_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not dict"):
        save_results(tmp_path / "x.json", [{"a": 1}])
    assert list(tmp_path.iterdir()) == []


def test_loading_a_foreign_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"results": []}')
    with pytest.raises(ValueError, match="not an iqm-async results file"):
        load_results(tmp_path / "x.json")


def test_circuit_result_repr_is_one_short_line() -> None:
    import numpy as np

    bits = {f"c_6_0_{i}": np.random.default_rng(i).integers(0, 2, (5000, 1), dtype=np.uint8) for i in range(6)}
    value = format_circuit(bits, 5000)
    text = repr(value)
    assert "\n" not in text and len(text) < 150
    assert text.startswith("CircuitResult(shots=5000, counts={") and "more}" in text
    top = max(value.counts.items(), key=lambda kv: kv[1])
    assert f"{top[0]!r}: {top[1]}" in text
    small = CircuitResult(
        shots=2,
        memory=["0", "1"],
        counts={"0": 1, "1": 1},
        hex_memory=["0x0", "0x1"],
        hex_counts={"0x0": 1, "0x1": 1},
        creg_sizes=[["c", 1]],
        memory_slots=1,
    )
    assert repr(small) == "CircuitResult(shots=2, counts={'0': 1, '1': 1})"


def test_json_native_handles_the_wire_models_and_numpy() -> None:
    import numpy as np

    assert json_native({"u": uuid.UUID(int=1), "n": np.int64(3), "a": np.array([1, 2]), "t": (1, 2)}) == {
        "u": "00000000-0000-0000-0000-000000000001",
        "n": 3,
        "a": [1, 2],
        "t": [1, 2],
    }
    with pytest.raises(TypeError, match="object"):
        json_native(object())
