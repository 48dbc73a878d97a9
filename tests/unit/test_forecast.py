"""Completion forecasts: execution times from timelines, the learned line per calibration set, and its spread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from iqm_async._forecast import (
    FIRST_SAMPLE_SPREAD,
    MIN_SPREAD,
    RELATIVE_SPREAD,
    JobForecast,
    ThroughputHistory,
    execution_time,
    forecast_for,
)
from iqm_async.models import Circuit, CircuitJobDefinition, Instruction, JobData, JobParameters, TimelineEntry

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def stamp(source: str, status: str, seconds: float) -> TimelineEntry:
    return TimelineEntry(source, status, T0 + timedelta(seconds=seconds))


def test_execution_time_is_received_to_ready() -> None:
    job = JobData(
        id="j",
        status="completed",
        timeline=(
            stamp("iqm-server", "created", 0.0),
            stamp("iqm-station-control", "received", 1.0),
            stamp("iqm-station-control", "completed", 3.5),
            stamp("iqm-server", "ready", 3.75),
        ),
    )
    assert execution_time(job) == pytest.approx(2.75)
    without_ready = JobData(id="j", status="completed", timeline=job.timeline[:3])
    assert execution_time(without_ready) == pytest.approx(2.5)
    assert execution_time(JobData(id="j", status="completed", timeline=job.timeline[:1])) is None


def test_no_history_no_forecast() -> None:
    assert ThroughputHistory().predict("cal", 100.0) is None


def test_one_sample_scales_with_work_and_is_wide() -> None:
    history = ThroughputHistory()
    history.learn("cal", 100.0, 2.0)
    prediction = history.predict("cal", 300.0)
    assert prediction is not None
    assert prediction.seconds == pytest.approx(6.0)
    assert prediction.spread == pytest.approx(FIRST_SAMPLE_SPREAD * 6.0)
    assert history.predict("other calibration", 300.0) is None


def test_line_with_overhead_is_recovered_and_sharp() -> None:
    history = ThroughputHistory()
    for work in (10.0, 100.0, 1000.0, 10.0, 100.0):
        history.learn("cal", work, 0.2 + 0.001 * work)
    prediction = history.predict("cal", 5000.0)
    assert prediction is not None
    assert prediction.seconds == pytest.approx(5.2)
    assert prediction.spread == pytest.approx(RELATIVE_SPREAD * 5.2)
    tiny = history.predict("cal", 1.0)
    assert tiny is not None and tiny.spread >= MIN_SPREAD


def test_spread_follows_the_measured_jitter() -> None:
    history = ThroughputHistory()
    for k in range(20):
        history.learn("cal", 1000.0, 10.0 * (1.1 if k % 2 else 0.9))  # ±10 %
    prediction = history.predict("cal", 1000.0)
    assert prediction is not None
    assert prediction.seconds == pytest.approx(10.0, rel=0.02)
    assert 0.2 * 10.0 <= prediction.spread <= 0.3 * 10.0  # 2.5 × 10 % relative rms


def test_old_samples_drop_out() -> None:
    history = ThroughputHistory(max_samples=4)
    for _ in range(4):
        history.learn("cal", 100.0, 1.0)
    for _ in range(4):
        history.learn("cal", 100.0, 2.0)  # the machine got slower
    prediction = history.predict("cal", 100.0)
    assert prediction is not None and prediction.seconds == pytest.approx(2.0)


def test_bad_samples_are_ignored() -> None:
    history = ThroughputHistory()
    history.learn("cal", 0.0, 1.0)
    history.learn("cal", 10.0, -1.0)
    history.learn("cal", 10.0, float("nan"))
    assert history.predict("cal", 10.0) is None


def test_job_forecast_keys_by_the_jobs_calibration_set_and_learns_only_completed_jobs() -> None:
    history = ThroughputHistory()
    forecast = JobForecast(history, 100.0, None)
    timeline = (stamp("iqm-station-control", "received", 0.0), stamp("iqm-server", "ready", 1.0))
    forecast.learn(JobData(id="j", status="failed", calibration_set_id="A", timeline=timeline))
    assert history.predict("A", 100.0) is None
    forecast.learn(JobData(id="j", status="completed", calibration_set_id="A", timeline=timeline))
    assert forecast.predict(JobData(id="k", status="processing", calibration_set_id="A")) is not None
    assert forecast.predict(JobData(id="k", status="processing", calibration_set_id="B")) is None


def test_forecast_for_needs_history_and_definition() -> None:
    circuit = Circuit(name="c", instructions=(Instruction(name="measure", locus=("QB1",), args={"key": "m"}),))
    definition = CircuitJobDefinition(circuits=(circuit, circuit), parameters=JobParameters(shots=50))
    history = ThroughputHistory()
    assert forecast_for(None, definition) is None
    assert forecast_for(history, None) is None
    forecast = forecast_for(history, definition)
    assert forecast is not None
    history.learn("cal", 100.0, 1.0)  # two circuits × 50 shots
    prediction = forecast.predict(JobData(id="j", status="processing", calibration_set_id="cal"))
    assert prediction is not None and prediction.seconds == pytest.approx(1.0)
