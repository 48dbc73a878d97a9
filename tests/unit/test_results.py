"""Result formatting: the spec's golden vectors, edge cases, and the fast parser against json.loads."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqm_async.errors import MalformedResponseError
from iqm_async.results import (
    ShotCountError,
    format_circuit,
    format_measurement_strings,
    measurements_from_lists,
    parse_measurements_json,
)

VECTOR_1 = {
    "a_2_0_0": [[0], [1], [0], [1], [0], [1], [0], [1]],
    "a_2_0_1": [[0], [0], [1], [1], [0], [0], [1], [1]],
    "b_1_1_0": [[0], [0], [0], [0], [1], [1], [1], [1]],
}
VECTOR_2 = {"c_2_0_0": [[1], [0], [1], [0]], "c_2_0_1": [[1], [1], [0], [1]], "d_4_1_2": [[1], [1], [1], [1]]}


def _formatted(raw: dict, shots: int, **kw):
    return format_circuit(parse_measurements_json(json.dumps([raw]))[0], shots, **kw)


def test_golden_vector_1() -> None:
    r = _formatted(VECTOR_1, 8)
    assert r.memory == ["0 00", "0 01", "0 10", "0 11", "1 00", "1 01", "1 10", "1 11"]
    assert r.counts == {s: 1 for s in r.memory}
    assert r.shots == 8
    assert r.creg_sizes == [["a", 2], ["b", 1]]
    assert r.memory_slots == 3


def test_golden_vector_2_zero_fills_unmeasured_bits() -> None:
    r = _formatted(VECTOR_2, 4)
    assert r.memory == ["0100 11", "0100 10", "0100 01", "0100 10"]
    assert r.counts == {"0100 11": 1, "0100 10": 2, "0100 01": 1}


def test_hex_memory_matches_qiskit_convention() -> None:
    r = _formatted(VECTOR_2, 4)
    # d (offset 2) bit 2 -> global bit 4 = 0x10; c bits 0/1 -> 0x1/0x2
    assert r.hex_memory == ["0x13", "0x12", "0x11", "0x12"]
    assert r.hex_counts == {"0x13": 1, "0x12": 2, "0x11": 1}


def test_compat_formatter_is_iqm_format() -> None:
    assert format_measurement_strings(VECTOR_1, 8) == ["0 00", "0 01", "0 10", "0 11", "1 00", "1 01", "1 10", "1 11"]


def test_known_registers_include_unmeasured_register() -> None:
    raw = {"a_1_0_0": [[1], [0]]}
    r = _formatted(raw, 2, registers=[("a", 1), ("b", 2)])
    assert r.memory == ["00 1", "00 0"]
    assert r.creg_sizes == [["a", 1], ["b", 2]]
    assert r.memory_slots == 3


def test_register_mismatch_with_circuit_is_an_error() -> None:
    with pytest.raises(MalformedResponseError, match="does not match"):
        _formatted({"a_2_0_0": [[1]]}, 1, registers=[("a", 1)])


def test_wrong_shot_count_raises() -> None:
    with pytest.raises(ShotCountError, match="Expected 5 shots but got 8"):
        _formatted(VECTOR_1, 5)


def test_zero_rows_without_heralding_raises() -> None:
    with pytest.raises(ShotCountError, match="Expected 3 shots but got 0"):
        _formatted({"c_2_0_0": [], "c_2_0_1": []}, 3)


def test_heralding_accepts_fewer_shots() -> None:
    raw = {"a_1_0_0": [[1], [0], [1]]}
    r = _formatted(raw, 10, expect_exact_shots=False)
    assert r.shots == 3 and r.counts == {"1": 2, "0": 1}


def test_heralding_zero_shots_warns_and_is_empty() -> None:
    with pytest.warns(UserWarning, match="zero shots"):
        r = _formatted({"c_2_0_0": [], "c_2_0_1": []}, 10, expect_exact_shots=False)
    assert r.memory == [] and r.counts == {} and r.shots == 0


def test_circuit_without_measurements_is_empty() -> None:
    r = format_circuit({}, 100)
    assert (r.memory, r.counts, r.shots) == ([], {}, 0)


def test_more_than_one_bit_per_shot_is_refused() -> None:
    with pytest.raises(ShotCountError, match="wrong shape"):
        format_circuit(measurements_from_lists([{"a_2_0_0": [[0, 1]]}])[0], 1)


def test_different_shot_counts_between_keys_are_refused() -> None:
    with pytest.raises(ShotCountError, match="different numbers of shots"):
        _formatted({"a_2_0_0": [[0]], "a_2_0_1": [[0], [1]]}, 1, expect_exact_shots=False)


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"[1]", b'[{"a_1_0_0": 3}]', b'[{"a_1_0_0": [[2]]}]', b'[{"a_1_0_0": [["x"]]}]', b"[{", b"nope"],
)
def test_malformed_bodies_raise_typed_error(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse_measurements_json(body)


def test_bad_key_is_typed_error() -> None:
    with pytest.raises(MalformedResponseError, match="measurement key"):
        _formatted({"nokey": [[1]]}, 1)


def test_wide_registers_over_64_bits() -> None:
    rng = np.random.default_rng(3)
    raw = {f"r_70_0_{i}": rng.integers(0, 2, (5, 1)).tolist() for i in range(70)}
    r = _formatted(raw, 5)
    for shot in range(5):
        expected = "".join(str(raw[f"r_70_0_{i}"][shot][0]) for i in range(70))[::-1]
        assert r.memory[shot] == expected
        assert int(r.hex_memory[shot], 16) == int(expected, 2)


def _slow_reference(raw: dict, shots: int) -> list[str]:
    """IQM's per-shot algorithm, written plainly, to check the vectorised one against."""
    regs: dict[int, list[list[int]]] = {}
    for key, rows in raw.items():
        _, size, idx, bit = key.rsplit("_", 3)
        table = regs.setdefault(int(idx), [[0] * int(size) for _ in range(shots)])
        for s in range(shots):
            table[s][int(bit)] = rows[s][0]
    return [" ".join("".join(str(b) for b in regs[i][s]) for i in sorted(regs))[::-1] for s in range(shots)]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    shots=st.integers(1, 20),
    seed=st.integers(0, 2**31),
    pretty=st.booleans(),
)
def test_vectorised_matches_reference_and_fast_parser_matches_json(sizes, shots, seed, pretty) -> None:
    rng = np.random.default_rng(seed)
    raw = {}
    for idx, size in enumerate(sizes):
        for bit in range(size):
            if rng.random() < 0.8:
                raw[f"reg_x{idx}_{size}_{idx}_{bit}"] = rng.integers(0, 2, (shots, 1)).tolist()
    body = json.dumps([raw], indent=2 if pretty else None)
    fast = parse_measurements_json(body.encode())
    slow = measurements_from_lists(json.loads(body))
    assert fast[0].keys() == slow[0].keys()
    for key in raw:
        assert np.array_equal(fast[0][key], slow[0][key])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = format_circuit(fast[0], shots)
    assert r.memory == (_slow_reference(raw, shots) if raw else [])
    assert sum(r.counts.values()) == (shots if raw else 0)
