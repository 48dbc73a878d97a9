"""Job status, timeline and measurement keys: what polling reads (docs/protocol.md#job-status)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..errors import MalformedResponseError
from ._reader import _iso, _parse_timestamp, _Reader
from .architecture import ErrorBody

JobStatusStr = Literal["waiting", "processing", "completed", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"waiting", "processing"})
KNOWN_STATUSES: frozenset[str] = FINAL_STATUSES | ACTIVE_STATUSES

# --------------------------------------------------------------------------------------------------
# Job data (status polling)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step a job has reached."""

    source: str
    status: str
    timestamp: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this entry."""
        return {"source": self.source, "status": self.status, "timestamp": _iso(self.timestamp)}

    def to_result_json(self) -> dict[str, Any]:
        """Return the entry as stored in a Qiskit result's ``timeline`` (timestamp as a datetime)."""
        return {"source": self.source, "status": self.status, "timestamp": self.timestamp}


@dataclass(frozen=True)
class JobData:
    """Status and metadata of a job: the body of ``GET /jobs/{id}`` (docs/protocol.md#job-status).

    ``status`` keeps the server's string as sent; an unknown string is treated as not final (docs/protocol.md).
    """

    id: str
    status: str
    type: str = "circuit"
    execution_progress: Mapping[str, tuple[int, int]] | None = None
    calibration_set_id: str | None = None
    has_compilation: bool = False
    messages: tuple[Mapping[str, str], ...] = ()
    errors: tuple[ErrorBody, ...] = ()
    queue_position: int | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    artifacts: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        """True once the job is ``completed``, ``failed`` or ``cancelled``; such a job never changes."""
        return self.status in FINAL_STATUSES

    @property
    def progress(self) -> tuple[int, int] | None:
        """Circuits done and in all, when the server reports it."""
        if not self.execution_progress:
            return None
        if "circuits" in self.execution_progress:
            return self.execution_progress["circuits"]
        return next(iter(self.execution_progress.values()))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object for this job."""
        execution = (
            None
            if self.execution_progress is None
            else {
                "progress": {label: {"value": v, "max_value": m} for label, (v, m) in self.execution_progress.items()}
            }
        )
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "execution": execution,
            "compilation": {"calibration_set_id": self.calibration_set_id} if self.has_compilation else None,
            "messages": [dict(m) for m in self.messages],
            "errors": [e.to_json() for e in self.errors],
            "queue_position": self.queue_position,
            "timeline": [t.to_json() for t in self.timeline],
            "artifacts": [{"type": a} for a in self.artifacts],
        }

    @classmethod
    def from_json(cls, obj: object) -> JobData:
        """Parse JobData, tolerating unknown statuses, fields, timeline steps and artifact types."""
        err = MalformedResponseError
        r = _Reader(obj, "job", err)
        job_id = r.str_("id")
        progress: dict[str, tuple[int, int]] | None = None
        execution = r.dict_("execution", optional=True)
        if execution is not None:
            raw_progress = execution.get("progress")
            if isinstance(raw_progress, dict):
                progress = {}
                for label, p in raw_progress.items():
                    pr = _Reader(p, f"job.execution.progress.{label}", err)
                    progress[str(label)] = (pr.int_("value"), pr.int_("max_value"))
        compilation = r.dict_("compilation", optional=True)
        calset: str | None = None
        if compilation is not None:
            calset = _Reader(compilation, "job.compilation", err).uuid_("calibration_set_id", optional=True)
        messages = []
        for i, m in enumerate(r.list_("messages", optional=True)):
            mr = _Reader(m, f"job.messages[{i}]", err)
            messages.append({"source": mr.str_("source", "", optional=True), "message": mr.str_("message")})
        timeline = []
        for i, t in enumerate(r.list_("timeline", optional=True)):
            tr = _Reader(t, f"job.timeline[{i}]", err)
            timeline.append(
                TimelineEntry(
                    source=tr.str_("source", "", optional=True),
                    status=tr.str_("status"),
                    timestamp=_parse_timestamp(tr.obj.get("timestamp"), f"job.timeline[{i}].timestamp"),
                )
            )
        artifacts = []
        for i, a in enumerate(r.list_("artifacts", optional=True)):
            artifacts.append(_Reader(a, f"job.artifacts[{i}]", err).str_("type"))
        qpos = r.int_("queue_position", optional=True)
        return cls(
            id=job_id,
            status=r.str_("status"),
            type=r.str_("type", "circuit", optional=True),
            execution_progress=progress,
            calibration_set_id=calset,
            has_compilation=compilation is not None,
            messages=tuple(messages),
            errors=tuple(
                ErrorBody.from_json(e, f"job.errors[{i}]") for i, e in enumerate(r.list_("errors", optional=True))
            ),
            queue_position=qpos,
            timeline=tuple(timeline),
            artifacts=tuple(artifacts),
        )


def parse_measurement_key(key: str) -> tuple[str, int, int, int]:
    """Split ``<creg name>_<creg size>_<creg index>_<clbit index>`` into its four parts (docs/protocol.md).

    Raises:
        ValueError: if the key does not end in three ``_``-separated decimal integers.
    """
    parts = key.rsplit("_", 3)
    if len(parts) != 4 or not all(p.isdecimal() for p in parts[1:]):
        raise ValueError(f"measurement key {key!r} is not of the form <creg name>_<size>_<index>_<clbit>")
    name, size, index, clbit = parts
    size_i, index_i, clbit_i = int(size), int(index), int(clbit)
    if clbit_i >= size_i:
        raise ValueError(f"measurement key {key!r}: clbit index {clbit_i} is outside a register of size {size_i}")
    return name, size_i, index_i, clbit_i
