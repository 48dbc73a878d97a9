"""Measurement formatting: iqm-async's vectorised path versus IQM's per-shot approach, same run.

Workload: one circuit, 100,000 shots, 20 classical bits in two registers of 10, random outcomes.
(a) from the E7 artifact's JSON bytes, as the server sends them, to Qiskit memory and counts;
(b) from already-parsed lists (the ``_format_measurement_results`` step) to memory strings.
The baseline is IQM's approach written out here: parse the JSON, build an integer array per key,
join a string per shot, count with ``Counter``. Both sides' outputs are checked identical.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from iqm_async.results import format_circuit, format_measurement_strings, parse_measurements_json


def baseline_strings(measurements: dict[str, list[list[int]]], shots: int) -> list[str]:
    """IQM's adapter: a zero table per register, then one joined, reversed string per shot."""
    tables: dict[int, np.ndarray] = {}
    for key, rows in measurements.items():
        _, size, creg_idx, clbit = key.rsplit("_", 3)
        column = np.array(rows, dtype=int)[:, 0]
        tables.setdefault(int(creg_idx), np.zeros((shots, int(size)), dtype=int))[:, int(clbit)] = column
    return [" ".join("".join(map(str, table[s, :])) for _, table in sorted(tables.items()))[::-1] for s in range(shots)]


def baseline_from_bytes(body: bytes, shots: int) -> tuple[list[str], dict[str, int]]:
    measurements = json.loads(body)[0]
    memory = baseline_strings(measurements, shots)
    return memory, dict(Counter(memory))


def ours_from_bytes(body: bytes, shots: int) -> tuple[list[str], dict[str, int]]:
    formatted = format_circuit(parse_measurements_json(body)[0], shots)
    return formatted.memory, formatted.counts


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shots = args.shots
    rng = np.random.default_rng(2026)
    measurements = {
        f"{reg}_10_{idx}_{bit}": rng.integers(0, 2, (shots, 1)).tolist()
        for idx, reg in enumerate(["a", "b"])
        for bit in range(10)
    }
    body = json.dumps([measurements]).encode()

    ours_a, base_a = ours_from_bytes(body, shots), baseline_from_bytes(body, shots)
    assert ours_a[0] == base_a[0] and ours_a[1] == base_a[1], "(a) outputs differ"
    assert format_measurement_strings(measurements, shots) == baseline_strings(measurements, shots), "(b) differ"

    t_ours_a = median_time(lambda: ours_from_bytes(body, shots), args.repeats)
    t_base_a = median_time(lambda: baseline_from_bytes(body, shots), args.repeats)
    t_ours_b = median_time(lambda: format_measurement_strings(measurements, shots), args.repeats)
    t_base_b = median_time(lambda: baseline_strings(measurements, shots), args.repeats)

    print(
        f"measurement formatting: 1 circuit, {shots:,} shots, 20 clbits in 2 registers, "
        f"{len(body) / 1e6:.1f} MB of JSON; median of {args.repeats}; outputs identical"
    )
    print(f"{'step':<58}{'iqm-async':>12}{'IQM approach':>14}{'speed-up':>10}{'target':>8}")
    for label, ours, base, target in (
        ("(a) JSON bytes -> memory + counts", t_ours_a, t_base_a, 10),
        ("(b) parsed lists -> memory (_format_measurement_results)", t_ours_b, t_base_b, 5),
    ):
        ratio = base / ours
        verdict = "ok" if ratio >= target else "MISSED"
        goal = f">={target}x"
        print(f"{label:<58}{ours * 1e3:>10.1f}ms{base * 1e3:>12.1f}ms{ratio:>9.1f}x{goal:>6} {verdict}")


if __name__ == "__main__":
    main()
