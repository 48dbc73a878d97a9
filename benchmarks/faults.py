"""Fault matrix: every client operation against every fault of the embedded server's switchboard.

Runs the cells of ``tests/test_fault_matrix.py`` (the same code and the same documented-outcome table)
against an in-process embedded server and prints the observed matrix, each cell's error class, and
the totals: faults injected, recovered, surfaced as typed errors, duplicate jobs (must be 0) and
results lost (must be 0). Exits non-zero if any cell differs from the table, or a job was duplicated
or a result lost.

    python benchmarks/faults.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

from iqm_async.server import ServerConfig, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]

CODES = {"recovered": "ok", "typed": "T", "reported": "rep", "n/a": "-", "not built": "nb"}


def load_matrix() -> ModuleType:
    """Import the test module by path (it is not an installed package)."""
    path = ROOT / "tests" / "test_fault_matrix.py"
    spec = importlib.util.spec_from_file_location("fault_matrix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def short(name: str) -> str:
    """Error class names without the ``Error`` suffix, to keep the matrix narrow."""
    return name.replace("Error", "").replace("SubmissionUnknown", "SubmitUnknown")


def code(report: Any, matches: bool) -> str:
    text = CODES.get(report.outcome, "?")
    if report.outcome == "typed":
        text = report.error_name
    return text if matches else f"!{text}"


async def run_all(fm: ModuleType, url_server: Any, only: str | None) -> list[Any]:
    reports = []
    for op in fm.OPERATIONS:
        if only and only not in op:
            continue
        for fault in fm.FAULTS:
            reports.append(await fm.run_cell(url_server, op, fault))
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the operations whose name contains this")
    args = parser.parse_args()

    fm = load_matrix()
    started = time.perf_counter()
    with serve_in_thread(ServerConfig(seed=1234)) as server:
        reports = anyio.run(run_all, fm, server, args.only)
    elapsed = time.perf_counter() - started

    by_cell = {(r.op, r.fault): r for r in reports}
    ops = [op for op in fm.OPERATIONS if any(r.op == op for r in reports)]
    matches = {key: fm.outcome_matches(r, fm.EXPECTED[key]) for key, r in by_cell.items()}

    table: dict[tuple[str, str], str] = {}
    for (op, fault), r in by_cell.items():
        text = short(code(r, matches[op, fault]))
        if r.outcome == "typed" and op.startswith("batch"):
            failures = getattr(r.error, "failures", [])
            items = ",".join(sorted({short(type(f.error).__name__) for f in failures}))
            text = f"{text} {len(failures)}x{items}"
        table[op, fault] = text
    width = max(len(f) for f in fm.FAULTS)
    cols = [max(len(op), *(len(table[op, f]) for f in fm.FAULTS)) for op in ops]
    print("Observed outcome per cell: ok = recovered transparently; an error class = the typed error raised")
    print("(batch: Batch <n>x<item error>); rep = reported as the job's state (status ERROR/CANCELLED, cancel")
    print("False, success=False result); - = not applicable; ! = differs from the documented table.\n")
    print(" " * width + " | " + " | ".join(op.ljust(w) for op, w in zip(ops, cols)))
    print("-" * width + "-+-" + "-+-".join("-" * w for w in cols))
    for fault in fm.FAULTS:
        print(fault.ljust(width) + " | " + " | ".join(table[op, fault].ljust(w) for op, w in zip(ops, cols)))

    run = [r for r in reports if r.outcome not in ("n/a", "not built")]
    outcome_count = {k: sum(1 for r in reports if r.outcome == k) for k in CODES}
    mismatched = [key for key, ok in matches.items() if not ok]
    duplicates = sum(r.duplicates for r in reports)
    lost = sum(r.lost for r in reports)
    hangs = sum(1 for r in reports if r.outcome == "HANG")
    print()
    print(
        f"cells:                     {len(reports)} ({len(run)} run, {outcome_count['n/a']} not applicable, "
        f"{outcome_count['not built']} not built)"
    )
    print(f"faults injected:           {sum(r.faults_injected for r in reports)}")
    print(f"recovered transparently:   {outcome_count['recovered']}")
    print(f"surfaced as typed errors:  {outcome_count['typed']}")
    print(f"reported as job state:     {outcome_count['reported']}")
    print(f"hangs:                     {hangs}")
    print(
        f"jobs created / expected:   {sum(r.jobs_created for r in reports)} / {sum(r.jobs_expected for r in reports)}"
    )
    print(f"duplicate jobs:            {duplicates}  (must be 0)")
    print(f"results lost:              {lost}  (must be 0)")
    print(f"cells differing from table: {len(mismatched)}  (must be 0)")
    for key in mismatched:
        r = by_cell[key]
        print(f"  {key[0]} under {key[1]}: expected {fm.EXPECTED[key].outcome}, got {r.outcome} {r.error!r} {r.detail}")
    print(f"wall time:                 {elapsed:.1f} s")
    return 1 if mismatched or duplicates or lost or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
