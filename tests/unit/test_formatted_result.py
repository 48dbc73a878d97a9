"""FormattedResult: get_counts()/get_memory() answered from the forms formatted at download, equal to Qiskit's."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.result import Counts, Result
from qiskit.result.models import ExperimentResultData

from iqm_async.models import JobParameters
from iqm_async.qiskit_result import FormattedResult, build_result
from iqm_async.results import format_circuit


def _result(n_circuits: int = 4, shots: int = 200, seed: int = 3) -> FormattedResult:
    rng = np.random.default_rng(seed)
    formatted = []
    for _ in range(n_circuits):
        keys = {f"m_a_3_0_{b}": rng.integers(0, 2, (shots, 1), dtype=np.uint8) for b in range(3)}
        keys |= {f"m_b_2_1_{b}": rng.integers(0, 2, (shots, 1), dtype=np.uint8) for b in range(2)}
        formatted.append(format_circuit(keys, shots))
    result = build_result(
        backend_name="b",
        job_id="j",
        circuits=[],
        parameters=JobParameters(shots=shots),
        formatted=formatted,
        calibration_set_id=None,
        timeline=[],
    )
    assert isinstance(result, FormattedResult)
    return result


def test_counts_and_memory_equal_qiskits_for_every_key_form() -> None:
    result = _result()
    ours_all = result.get_counts()
    assert ours_all == Result.get_counts(result)
    for i in range(4):
        for key in (i, f"circuit_{i}", QuantumCircuit(1, name=f"circuit_{i}")):
            ours, theirs = result.get_counts(key), Result.get_counts(result, key)
            assert isinstance(ours, Counts)
            assert ours == theirs and " " in next(iter(ours))
            assert ours.hex_raw == theirs.hex_raw and ours.int_raw == theirs.int_raw
            assert ours.creg_sizes == theirs.creg_sizes and ours.memory_slots == theirs.memory_slots
            assert ours.int_outcomes() == theirs.int_outcomes() and ours.hex_outcomes() == theirs.hex_outcomes()
            assert result.get_memory(key) == Result.get_memory(result, key)


def test_single_experiment_without_key_and_errors_as_qiskit() -> None:
    one = _result(n_circuits=1)
    assert one.get_counts() == Result.get_counts(one)
    assert one.get_memory() == Result.get_memory(one)
    many = _result()
    with pytest.raises(Exception, match="select a circuit"):
        many.get_memory()
    with pytest.raises(Exception, match="could not be found"):
        many.get_counts(99)


def test_returned_forms_are_copies() -> None:
    result = _result()
    counts, memory = result.get_counts(0), result.get_memory(0)
    counts.clear()
    memory.clear()
    assert result.get_counts(0) == Result.get_counts(result, 0)
    assert result.get_memory(0) == Result.get_memory(result, 0)


def test_replaced_data_is_formatted_from_the_data_as_qiskit_does() -> None:
    result = _result()
    result.results[1].data = ExperimentResultData(counts={"0x1": 7}, memory=["0x1"] * 7)
    assert result.get_counts(1) == {"00 001": 7}
    assert result.get_memory(1) == ["00 001"] * 7


def test_pickle_and_deepcopy_keep_the_answers() -> None:
    result = _result()
    expected = Result.get_counts(result)
    for clone in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
        assert type(clone) is FormattedResult
        assert clone.get_counts() == expected
        assert clone.get_memory(2) == Result.get_memory(result, 2)


def test_changing_returned_counts_or_their_raw_forms_never_changes_the_result() -> None:
    result = _result()
    before = Result.get_counts(result, 0)
    counts = result.get_counts(0)
    key = next(iter(counts.hex_raw))
    counts.hex_raw[key] += 1000  # hex_raw is the caller's copy, made when read
    counts.int_raw.clear()
    counts[next(iter(counts))] += 1000
    again = result.get_counts(0)
    assert again == before and again.hex_raw == before.hex_raw and again.int_raw == before.int_raw
    assert result.results[0].data.counts == before.hex_raw
    assert pickle.loads(pickle.dumps(again)).hex_raw == before.hex_raw
