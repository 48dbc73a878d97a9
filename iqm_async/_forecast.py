"""Completion forecasts: how long this client's jobs execute, learned per quantum computer and calibration set.

A job's execution time (from the station's ``received`` to the server's ``ready``, both read from
the job's timeline, so no clock skew enters) is close to ``a + b × circuits × shots`` on one
machine and calibration: a fixed overhead plus a time per shot. :class:`ThroughputHistory` (one per
client) keeps the last few completed jobs of each (quantum computer, calibration set) and fits that
line; :class:`JobForecast` (one per wait) asks it for the job at hand and teaches it when the job
completes. A forecast is a duration and a spread; :class:`~iqm_async.polling.PollSchedule` turns it
into polls that land around the predicted end. With no history there is no forecast, and polling
is exactly what it was without one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from .models import CircuitJobDefinition, JobData

__all__ = ["JobForecast", "Prediction", "ThroughputHistory", "execution_start", "execution_time", "forecast_for"]

MAX_SAMPLES = 32
"""Completed jobs remembered per calibration set; older ones drop out, so drift is followed."""

MIN_SPREAD = 0.01
"""Seconds: the least half-width of the window in which completion is expected (timestamps, start-up)."""

RELATIVE_SPREAD = 0.03
"""The least half-width as a share of the predicted duration."""

FIRST_SAMPLE_SPREAD = 0.25
"""Half-width, as a share of the duration, while only one job has been seen (nothing says how it varies)."""

RECENCY = 0.7
"""Weight of a sample relative to the next newer one: a machine that changes speed is followed within a few jobs."""

RESIDUAL_SPREADS = 2.5
"""Half-width in root-mean-square relative residuals of the fit, so a completion rarely falls outside the window."""

_STATION = "iqm-station-control"
_SERVER = "iqm-server"


@dataclass(frozen=True)
class Prediction:
    """How long a job is expected to execute, and how far off that may be."""

    seconds: float
    """Expected time from the start of execution to the ``completed`` status."""
    spread: float
    """Half-width in seconds of the window in which completion is expected."""


def _stamp(job: JobData, source: str, status: str) -> datetime | None:
    for entry in job.timeline:
        if entry.source == source and entry.status == status:
            return entry.timestamp
    return None


def execution_start(job: JobData) -> datetime | None:
    """Return when the station started executing the job (its ``received`` step), if it has."""
    return _stamp(job, _STATION, "received")


def execution_time(job: JobData) -> float | None:
    """Return seconds from the start of execution until the job was ready (the status became ``completed``)."""
    start = execution_start(job)
    end = _stamp(job, _SERVER, "ready") or _stamp(job, _STATION, "completed")
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 and math.isfinite(seconds) else None


class ThroughputHistory:
    """Execution times of one client's completed jobs, per calibration set of the client's quantum computer."""

    def __init__(self, max_samples: int = MAX_SAMPLES):
        self._max = max_samples
        self._samples: dict[Hashable, deque[tuple[float, float]]] = {}
        # (a, b, relative spread) per key, fitted once per new sample: every poll of every job asks.
        self._fits: dict[Hashable, tuple[float, float, float]] = {}

    def __repr__(self) -> str:
        return f"ThroughputHistory({sum(len(s) for s in self._samples.values())} jobs, {len(self._samples)} keys)"

    def learn(self, key: Hashable, work: float, seconds: float) -> None:
        """Record that a job of ``work`` (circuits × shots) executed in ``seconds``."""
        if not (work > 0 and seconds >= 0 and math.isfinite(work) and math.isfinite(seconds)):
            return
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque(maxlen=self._max)
        samples.append((work, seconds))
        self._fits.pop(key, None)

    def predict(self, key: Hashable, work: float) -> Prediction | None:
        """Return the expected execution time of a job of ``work`` (circuits × shots), or None without history."""
        if not work > 0:
            return None
        fit = self._fits.get(key)
        if fit is None:
            samples = self._samples.get(key)
            if not samples:
                return None
            fit = self._fits[key] = _fit_with_spread(samples)
        a, b, relative = fit
        seconds = max(0.0, a + b * work)
        return Prediction(seconds, max(MIN_SPREAD, relative * seconds))


def _fit_with_spread(samples: deque[tuple[float, float]]) -> tuple[float, float, float]:
    """Fit the line and measure its recent relative error (the spread's share of a prediction)."""
    a, b = _fit(samples)
    if len(samples) == 1:
        return a, b, FIRST_SAMPLE_SPREAD
    # Errors scale with the duration (a machine a few per cent slower), so they are measured relatively.
    n = len(samples)
    recency = [(RECENCY * RECENCY) ** (n - 1 - i) for i in range(n)]  # the spread forgets faster
    errors = [(d - a - b * w) / max(d, MIN_SPREAD) for w, d in samples]
    mean_square = sum(r * e * e for r, e in zip(recency, errors)) / sum(recency)
    return a, b, max(RELATIVE_SPREAD, RESIDUAL_SPREADS * math.sqrt(mean_square))


def _weights(samples: deque[tuple[float, float]]) -> list[float]:
    """Weights 1/d² (a short job's 10 ms error matters as a long job's 1 s), newer samples counting more."""
    n = len(samples)
    return [RECENCY ** (n - 1 - i) / max(d, MIN_SPREAD) ** 2 for i, (_, d) in enumerate(samples)]


def _fit(samples: deque[tuple[float, float]]) -> tuple[float, float]:
    """Line ``seconds = a + b × work`` (``a, b >= 0``) fitting relative errors; proportional if works do not vary."""
    weights = _weights(samples)
    total = sum(weights)
    mean_w = sum(u * w for u, (w, _) in zip(weights, samples)) / total
    mean_d = sum(u * d for u, (_, d) in zip(weights, samples)) / total
    var_w = sum(u * (w - mean_w) ** 2 for u, (w, _) in zip(weights, samples))
    if len(samples) >= 2 and var_w > 1e-12 * mean_w**2 * total:
        b = sum(u * (w - mean_w) * (d - mean_d) for u, (w, d) in zip(weights, samples)) / var_w
        a = mean_d - b * mean_w
        if b < 0:
            return mean_d, 0.0
        if a >= 0:
            return a, b
    # One work size (or a line through the origin fits better): time proportional to work.
    ratio = sum(u * d / w for u, (w, d) in zip(weights, samples)) / total
    return 0.0, ratio


class JobForecast:
    """The forecast of one job: its key in the client's history and its work (circuits × shots)."""

    __slots__ = ("_history", "_work", "default_calibration_set")

    def __init__(self, history: ThroughputHistory, work: float, calibration_set: str | None):
        self._history = history
        self._work = work
        self.default_calibration_set = calibration_set
        """The calibration set asked for at submit (None: the server's default), until the server names it."""

    def _key(self, job: JobData) -> Hashable:
        # The history belongs to one client, hence to one quantum computer: the calibration set is the key.
        return job.calibration_set_id or self.default_calibration_set

    def predict(self, job: JobData) -> Prediction | None:
        """Return how long ``job`` is expected to execute, or None when nothing similar has been seen."""
        return self._history.predict(self._key(job), self._work)

    def learn(self, job: JobData) -> None:
        """Teach the history from a job seen ``completed`` (other final states teach nothing)."""
        if job.status != "completed":
            return
        seconds = execution_time(job)
        if seconds is not None:
            self._history.learn(self._key(job), self._work, seconds)


def forecast_for(history: ThroughputHistory | None, definition: CircuitJobDefinition | None) -> JobForecast | None:
    """Return the forecast of a job whose definition is known (submitted by this client), else None."""
    if history is None or definition is None or not definition.circuits:
        return None
    work = float(len(definition.circuits) * max(1, definition.parameters.shots))
    return JobForecast(history, work, definition.parameters.calibration_set_id)
