"""Soak: a large batch while a seeded 5 % of all requests fail, and every result still comes back right.

The server's switchboard has no random-rate action, so the test gives the server a
:class:`SeededFaultBoard`: a fault board that numbers the API requests as they arrive and fails those
that a seeded random plan picks (about ``RATE`` of them). The plan depends only on the seed and the
arrival number, not on the client. Only faults a client can recover from without risking a
duplicate are planned: 429s (with and without ``Retry-After``) on submits, and 429s, 502/503/504,
dropped connections (before and after the server handled the request) and malformed JSON on reads.
Any other fault on a submit would correctly end that item with ``SubmissionUnknownError``; the fault
matrix covers those.

CI runs a small soak (``SMALL`` circuits). The full size (``FULL`` circuits) runs with
``IQM_SOAK_FULL=1`` or ``-m slow``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy
from iqm_async._journal import read_journal
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_async.server.faults import FaultBoard, FaultRule, parse_rule

pytest.importorskip("iqm_async.batch", reason="iqm_async.batch is not there yet")

RATE = 0.05
SEED = 20261124
SMALL = 200
FULL = 2000
WIDTH = 11  # 2**11 > FULL: every circuit measures its own index
SHOTS = 4

_SUBMIT_FAULTS: list[dict[str, Any]] = [
    {"action": "rate_limit", "retry_after": 1},
    {"action": "status", "status": 429},
]
_READ_FAULTS: list[dict[str, Any]] = [
    {"action": "status", "status": 502},
    {"action": "status", "status": 503},
    {"action": "status", "status": 504},
    {"action": "rate_limit", "retry_after": 1},
    {"action": "status", "status": 429},
    {"action": "drop"},
    {"action": "drop", "after_handling": True},
    {"action": "malformed_json"},
]


class SeededFaultBoard(FaultBoard):
    """A fault board that also fails a seeded random share of the API requests, by arrival number."""

    def __init__(self, seed: int, rate: float):
        super().__init__()
        self._rng = random.Random(seed)
        self._rate = rate
        self._plan_lock = threading.Lock()
        self.arrivals = 0
        self.planned: Counter[str] = Counter()

    def match(self, method: str, path: str) -> FaultRule | None:
        """Apply explicit rules first; otherwise fail this request if the plan says so."""
        rule = super().match(method, path)
        if rule is not None or not path.startswith("/api/v1/"):
            return rule
        with self._plan_lock:
            self.arrivals += 1
            if self._rng.random() >= self._rate:
                return None
            submit = method == "POST" and path.endswith("/circuit")
            choice = self._rng.choice(_SUBMIT_FAULTS if submit else _READ_FAULTS)
            if method not in ("GET", "POST") or (method == "POST" and not submit):
                return None  # cancels and deletes: the soak sends none
            label = f"{'submit' if submit else 'read'} {choice['action']} {choice.get('status', '')}".strip()
            if choice.get("after_handling"):
                label += " after handling"
            self.planned[label] += 1
            self.injected += 1
            return parse_rule(f"seeded-{self.arrivals}", choice)


class WarpSleep:
    """The client's sleeps (backoff, Retry-After, polls) at 1/100 of their length, recorded."""

    def __init__(self) -> None:
        self.requested = 0.0

    async def __call__(self, seconds: float) -> None:
        self.requested += seconds
        await anyio.sleep(min(seconds * 0.01, 0.05))


def pattern(index: int) -> QuantumCircuit:
    qc = QuantumCircuit(WIDTH, WIDTH, name=f"soak{index}")
    for bit in range(WIDTH):
        if index >> bit & 1:
            qc.x(bit)
    qc.measure(range(WIDTH), range(WIDTH))
    return qc


@pytest.fixture(scope="module")
def soak_server() -> Iterator[RunningServer]:
    """A server of its own: rate limiting off (the client's sleeps are warped, the server's clock is not)."""
    with serve_in_thread(ServerConfig(seed=SEED, rate_limit=RateLimitConfig(enabled=False))) as running:
        yield running


def run_soak(server: RunningServer, size: int, journal: Path, circuits_per_job: int) -> dict[str, Any]:
    server.state.release()
    server.state.reset()
    board = SeededFaultBoard(SEED, RATE)
    server.state.faults = board  # the gateway asks state.faults for every request
    circuits = [pattern(i) for i in range(size)]
    sleep = WarpSleep()

    async def main() -> tuple[list[Any], list[str]]:
        poll = PollPolicy(first_delay=0.05, max_interval=1.0, per_queue_position=0.01)
        async with AsyncIQMClient(server.url, sleep=sleep, poll=poll) as client:
            with anyio.fail_after(600):
                batch = client.run_batch(
                    circuits, shots=SHOTS, circuits_per_job=circuits_per_job, journal=journal, progress=False
                )
                results = await batch.results()
                return results, batch.job_ids

    started = time.monotonic()
    try:
        results, job_ids = anyio.run(main)
    finally:
        server.state.faults = FaultBoard()
    stats = server.state.stats()
    wrong = [i for i, r in enumerate(results) if r.counts != {format(i, f"0{WIDTH}b"): SHOTS}]
    return {
        "seconds": time.monotonic() - started,
        "requests": board.arrivals,
        "injected": board.injected,
        "planned": dict(board.planned),
        "wrong": wrong,
        "results": len(results),
        "job_ids": job_ids,
        "jobs_created": stats["jobs_created"],
        "server_job_ids": set(server.state.store.job_ids()),
        "journal": read_journal(journal),
        "client_sleep_requested": sleep.requested,
    }


def check(report: dict[str, Any], size: int, circuits_per_job: int) -> None:
    jobs = -(-size // circuits_per_job)
    assert report["results"] == size
    assert report["wrong"] == [], f"{len(report['wrong'])} wrong results, first {report['wrong'][:10]}"
    assert len(report["job_ids"]) == len(set(report["job_ids"])) == jobs
    assert report["jobs_created"] == jobs, f"{report['jobs_created']} jobs created for {jobs} submits: duplicates"
    assert report["server_job_ids"] == set(report["job_ids"])
    assert {g.job_id for g in report["journal"].groups} == set(report["job_ids"]), "a job id missing from the journal"
    # The plan really bit: about RATE of the requests failed (loose bounds; the count is seeded but the
    # number of requests depends on timing).
    assert report["injected"] >= max(3, int(0.5 * RATE * report["requests"])), report
    assert report["injected"] <= 2 * RATE * report["requests"] + 5, report


def test_soak_small(soak_server: RunningServer, tmp_path: Path) -> None:
    report = run_soak(soak_server, SMALL, tmp_path / "soak.jsonl", circuits_per_job=1)
    check(report, SMALL, 1)


@pytest.mark.slow
def test_soak_full(soak_server: RunningServer, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not os.environ.get("IQM_SOAK_FULL") and "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full soak runs with IQM_SOAK_FULL=1 or -m slow")
    report = run_soak(soak_server, FULL, tmp_path / "soak.jsonl", circuits_per_job=1)
    check(report, FULL, 1)
    print(
        f"\nsoak: {FULL} circuits, {report['requests']} requests, {report['injected']} failed on purpose "
        f"({report['planned']}), {report['seconds']:.1f} s, 0 wrong, 0 duplicates"
    )
