"""What the ledger holds and reports: entries, usage rows, tags and times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import CircuitValidationError, ValidationError

if TYPE_CHECKING:
    from ..models import TimelineEntry

_MAX_TAG_LENGTH = 200


def normalize_tags(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return tags as a tuple of distinct non-empty strings in the order given (one string is one tag).

    Raises:
        CircuitValidationError: for a tag that is not a non-empty string of at most 200 characters.
    """
    if tags is None:
        return ()
    if isinstance(tags, str):
        items: list[object] = [tags]
    elif isinstance(tags, Iterable) and not isinstance(tags, (bytes, dict)):
        items = list(tags)
    else:
        items = [tags]
    out: list[str] = []
    for tag in items:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > _MAX_TAG_LENGTH:
            raise CircuitValidationError(
                f"Each tag must be a non-empty string of at most {_MAX_TAG_LENGTH} characters, got {tag!r}; "
                "nothing was sent."
            )
        if tag not in out:
            out.append(tag)
    return tuple(out)


def parse_since(since: datetime | date | timedelta | str | None) -> datetime | None:
    """Turn a ``since=`` value into an aware UTC datetime.

    Accepts an aware or naive (local time) datetime, a date (local midnight), a timedelta (that long
    ago), or an ISO-8601 string (``2026-11-30``, ``2026-11-30T12:00``, ``…Z``).
    """
    if since is None:
        return None
    if isinstance(since, timedelta):
        return datetime.now(timezone.utc) - since
    if isinstance(since, str):
        text = since.strip()
        text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            since = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"since: {since!r} is not an ISO-8601 date or date-time (e.g. 2026-11-30)") from None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    if since.tzinfo is None:
        since = since.astimezone()  # naive means local time
    return since.astimezone(timezone.utc)


def _ts(value: datetime | None) -> str | None:
    """Format a timestamp for storage: fixed-width UTC, so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _server_url(url: str) -> str:
    """Return ``scheme://host[:port]`` of a URL: no credentials, path or query is ever stored."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}"


def _find(timeline: Sequence[TimelineEntry], status: str, source: str | None = None) -> datetime | None:
    for entry in timeline:
        if entry.status == status and (source is None or entry.source == source):
            return entry.timestamp
    return None


def _times(timeline: Sequence[TimelineEntry]) -> dict[str, Any]:
    """Derive queue/run/QPU figures from a job's timeline (entries the server has not sent stay None)."""
    station = "iqm-station-control"
    created = _find(timeline, "created", "iqm-server") or _find(timeline, "created")
    started = _find(timeline, "received", station)
    finished = _find(timeline, "completed", station)
    exec_start = _find(timeline, "execution_started", station) or _find(timeline, "execution_started")
    exec_end = _find(timeline, "execution_ended", station) or _find(timeline, "execution_ended")
    ended = None
    for status in ("ready", "failed", "cancelled"):
        ended = ended or _find(timeline, status, "iqm-server")

    def span(a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else max(0.0, (b - a).total_seconds())

    qpu = span(exec_start, exec_end)
    if qpu is None:
        qpu = span(started, finished)
    return {
        "created_at": _ts(created),
        "started_at": _ts(started),
        "finished_at": _ts(finished or ended),
        "queue_seconds": span(created, started),
        "run_seconds": span(started, finished or ended),
        "qpu_seconds": qpu,
    }


@dataclass(frozen=True)
class LedgerEntry:
    """One job as the ledger knows it."""

    job_id: str
    server_url: str
    quantum_computer: str | None
    calibration_set_id: str | None
    submitted: datetime
    circuits: int | None
    shots: int | None
    tags: tuple[str, ...]
    batch_id: str | None
    status: str
    queue_seconds: float | None = None
    """From the server's ``created`` to the station's ``received`` timeline entry."""
    run_seconds: float | None = None
    """From the station's ``received`` to its ``completed`` entry (or the job's end)."""
    qpu_seconds: float | None = None
    """Execution time on the quantum computer, from the station's timeline entries."""
    error: str | None = None
    updated: datetime | None = None

    @property
    def is_final(self) -> bool:
        """True once the recorded status is ``completed``, ``failed`` or ``cancelled``."""
        return self.status in ("completed", "failed", "cancelled")

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON-native dict (timestamps as ISO-8601 strings)."""
        return {
            "job_id": self.job_id,
            "server_url": self.server_url,
            "quantum_computer": self.quantum_computer,
            "calibration_set_id": self.calibration_set_id,
            "submitted": self.submitted.isoformat(),
            "circuits": self.circuits,
            "shots": self.shots,
            "tags": list(self.tags),
            "batch_id": self.batch_id,
            "status": self.status,
            "queue_seconds": self.queue_seconds,
            "run_seconds": self.run_seconds,
            "qpu_seconds": self.qpu_seconds,
            "error": self.error,
            "updated": None if self.updated is None else self.updated.isoformat(),
        }


@dataclass(frozen=True)
class UsageRow:
    """QPU seconds of one quantum computer and tag (``tag`` None: jobs without tags)."""

    quantum_computer: str
    tag: str | None
    jobs: int
    qpu_seconds: float


@dataclass(frozen=True)
class UsageReport:
    """QPU seconds summed by quantum computer (``totals``) and by quantum computer and tag (``rows``).

    A job with several tags counts once under each of them in ``rows`` and once in ``totals``.
    """

    since: datetime | None
    totals: dict[str, UsageRow] = field(default_factory=dict)
    rows: list[UsageRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-native dict."""
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "totals": [vars(r) for r in self.totals.values()],
            "by_tag": [vars(r) for r in self.rows],
        }
