"""IQM's result formatting through the facade's compatibility helpers (golden vectors)."""

from __future__ import annotations

import pytest
from qiskit.result import Counts

from iqm_sync_shim import IQMJob

VECTOR_1 = {
    "a_2_0_0": [[0], [1], [0], [1], [0], [1], [0], [1]],
    "a_2_0_1": [[0], [0], [1], [1], [0], [0], [1], [1]],
    "b_1_1_0": [[0], [0], [0], [0], [1], [1], [1], [1]],
}
MEMORY_1 = ["0 00", "0 01", "0 10", "0 11", "1 00", "1 01", "1 10", "1 11"]

VECTOR_2 = {"c_2_0_0": [[1], [0], [1], [0]], "c_2_0_1": [[1], [1], [0], [1]], "d_4_1_2": [[1], [1], [1], [1]]}
MEMORY_2 = ["0100 11", "0100 10", "0100 01", "0100 10"]


@pytest.mark.parametrize(("raw", "shots", "memory"), [(VECTOR_1, 8, MEMORY_1), (VECTOR_2, 4, MEMORY_2)])
def test_golden_vectors(raw: dict[str, list[list[int]]], shots: int, memory: list[str]) -> None:
    assert IQMJob._format_measurement_results(raw, shots) == memory


def test_golden_vector_counts_through_batch_formatter() -> None:
    out = IQMJob._format_iqm_results([VECTOR_1, VECTOR_2], ["two_regs", "partial"])
    (name1, mem1, counts1), (name2, mem2, counts2) = out
    assert (name1, mem1) == ("two_regs", MEMORY_1)
    assert counts1 == dict.fromkeys(MEMORY_1, 1)
    assert (name2, mem2) == ("partial", MEMORY_2)
    assert counts2 == {"0100 11": 1, "0100 10": 2, "0100 01": 1}
    assert isinstance(counts2, Counts)


def test_batch_formatter_names_and_shots_default() -> None:
    class Named:
        name = "from_object"

    out = IQMJob._format_iqm_results([VECTOR_1, VECTOR_1, VECTOR_1], [Named(), "s"])
    assert [name for name, _, _ in out] == ["from_object", "s", "circuit_2"]
    assert all(mem == MEMORY_1 for _, mem, _ in out)


def test_iqm_36_names_are_aliases() -> None:
    assert IQMJob._iqm_format_measurement_results(VECTOR_1, 8) == MEMORY_1
    assert IQMJob._iqm_format_results([VECTOR_2], None, 4, True)[0][0] == "circuit_0"


def test_wrong_shot_count_is_a_value_error_as_in_iqm() -> None:
    with pytest.raises(ValueError, match="Expected 9 shots but got 8"):
        IQMJob._format_measurement_results(VECTOR_1, 9)
    # IQM's adapter crashes here; the rule is the shot-check error.
    with pytest.raises(ValueError, match="Expected 4 shots but got 0"):
        IQMJob._format_measurement_results({"c_1_0_0": []}, 4)


def test_more_than_one_bit_per_shot_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="wrong shape"):
        IQMJob._format_measurement_results({"c_2_0_0": [[0, 1], [1, 1]]}, 2)


def test_heralding_zero_shots_warns_and_gives_nothing() -> None:
    with pytest.warns(UserWarning, match="zero shots"):
        assert IQMJob._format_measurement_results({"c_2_0_0": [], "c_2_0_1": []}, 8, expect_exact_shots=False) == []


def test_circuit_without_measurements() -> None:
    assert IQMJob._format_measurement_results({}, 100) == []
