"""Fault-injection switchboard (docs/protocol.md#fault-injection-switchboard) and the log of API requests.

A rule is a plain JSON-like dict, the same in-process and over ``POST /_control/faults``::

    board.add({"match": {"method": "POST", "path": "/api/v1/jobs/*/circuit"}, "action": "drop",
               "after_handling": True})
    board.add({"action": "status", "status": 503, "times": 2})
    board.add({"action": "fail_job", "after_circuits": 1, "message": "boom"})

Rules are tried in the order they were added; the first match applies and uses up one of its
``times`` (``None`` = until removed). ``fail_job`` rules never match requests: the executor asks for
them when a job starts.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ACTIONS",
    "FailJob",
    "FaultBoard",
    "FaultRule",
    "RequestLog",
    "RequestLogEntry",
]

Action = Literal["status", "rate_limit", "drop", "delay", "malformed_json", "fail_job"]
ACTIONS: tuple[str, ...] = ("status", "rate_limit", "drop", "delay", "malformed_json", "fail_job")

_PARAMS: dict[str, frozenset[str]] = {
    "status": frozenset({"status", "body", "headers"}),
    "rate_limit": frozenset({"retry_after"}),
    "drop": frozenset({"after_handling"}),
    "delay": frozenset({"delay_s"}),
    "malformed_json": frozenset({"status"}),
    "fail_job": frozenset({"job_id", "after_circuits", "message", "error_code"}),
}


def _int(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value


@dataclass(frozen=True)
class FailJob:
    """What a matching ``fail_job`` rule asks the executor to do with one job."""

    after_circuits: int = 0
    message: str = "Job failed (injected fault)"
    error_code: str = "injected_fault"


@dataclass
class FaultRule:
    """One validated rule; ``remaining`` is None for a rule that applies until removed."""

    id: str
    action: Action
    method: str = "*"
    path: str = "*"
    remaining: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this request rule applies to a request (``fail_job`` rules never do)."""
        if self.action == "fail_job":
            return False
        if self.method != "*" and self.method != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        """Return the rule as listed by ``GET /_control/faults``."""
        return {
            "id": self.id,
            "match": {"method": self.method, "path": self.path},
            "action": self.action,
            "times": self.remaining,
            "remaining": self.remaining,
            **self.params,
        }


def parse_rule(rule_id: str, rule: Mapping[str, Any]) -> FaultRule:
    """Validate a rule dict and build the rule; raise ValueError with a message fit for a 400."""
    if not isinstance(rule, Mapping):
        raise ValueError("a fault rule must be a JSON object")
    action = rule.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {list(ACTIONS)}, got {action!r}")
    unknown = set(rule) - {"match", "times", "action"} - _PARAMS[action]
    if unknown:
        raise ValueError(f"unknown parameter(s) for action {action!r}: {sorted(unknown)}")
    match = rule.get("match") or {}
    if not isinstance(match, Mapping) or set(match) - {"method", "path"}:
        raise ValueError('match must be an object with optional "method" and "path"')
    method = match.get("method", "*")
    path = match.get("path", "*")
    if not isinstance(method, str) or not isinstance(path, str) or not method or not path:
        raise ValueError("match.method and match.path must be non-empty strings")
    times: int | None = 1
    if "times" in rule:
        times = None if rule["times"] is None else _int(rule["times"], "times", 1)
    params: dict[str, Any] = {}
    if action == "status":
        params["status"] = _int(rule.get("status"), "status", 100, 599)
        if rule.get("body") is not None:
            if not isinstance(rule["body"], Mapping):
                raise ValueError("body must be a JSON object")
            params["body"] = dict(rule["body"])
        if rule.get("headers") is not None:
            headers = rule["headers"]
            if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise ValueError("headers must be an object of strings")
            params["headers"] = dict(headers)
    elif action == "rate_limit":
        params["retry_after"] = _int(rule.get("retry_after", 1), "retry_after", 0)
    elif action == "drop":
        after = rule.get("after_handling", False)
        if not isinstance(after, bool):
            raise ValueError("after_handling must be a boolean")
        params["after_handling"] = after
    elif action == "delay":
        delay = rule.get("delay_s")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) or delay < 0:
            raise ValueError(f"delay_s must be a non-negative number, got {delay!r}")
        params["delay_s"] = float(delay)
    elif action == "malformed_json":
        params["status"] = _int(rule.get("status", 200), "status", 100, 599)
    else:  # fail_job
        params["after_circuits"] = _int(rule.get("after_circuits", 0), "after_circuits", 0)
        for name in ("job_id", "message", "error_code"):
            value = rule.get(name)
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{name} must be a non-empty string")
                params[name] = value
    return FaultRule(id=rule_id, action=action, method=method.upper(), path=path, remaining=times, params=params)


class FaultBoard:
    """The set of active fault rules; thread-safe, shared by the HTTP layer and the executor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self.injected = 0
        """Rules applied since the last clear."""

    def add(self, rule: Mapping[str, Any]) -> str:
        """Validate and append a rule; return its id (ValueError for a bad rule)."""
        with self._lock:
            parsed = parse_rule(f"f{next(self._ids)}", rule)
            self._rules.append(parsed)
            return parsed.id

    def remove(self, rule_id: str) -> bool:
        """Remove one rule; return False when there is no such rule."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.id == rule_id:
                    del self._rules[i]
                    return True
            return False

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()
            self.injected = 0

    def rules(self) -> list[dict[str, Any]]:
        """Return the active rules with the uses each has left."""
        with self._lock:
            return [r.to_json() for r in self._rules]

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        """Return the first request rule matching the request and use up one of its uses."""
        with self._lock:
            if not self._rules:
                return None
            for rule in self._rules:
                if rule.matches(method, path):
                    self._use(rule)
                    return rule
            return None

    def take_fail_job(self, job_id: str) -> FailJob | None:
        """Return what to do with a job that starts executing, using up a matching ``fail_job`` rule."""
        with self._lock:
            for rule in self._rules:
                if rule.action != "fail_job":
                    continue
                target = rule.params.get("job_id")
                if target is not None and target != job_id:
                    continue
                self._use(rule)
                return FailJob(
                    after_circuits=rule.params.get("after_circuits", 0),
                    message=rule.params.get("message", FailJob.message),
                    error_code=rule.params.get("error_code", FailJob.error_code),
                )
            return None

    def _use(self, rule: FaultRule) -> None:
        self.injected += 1
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._rules.remove(rule)


@dataclass(slots=True)
class RequestLogEntry:
    """One API request as seen by the server."""

    method: str
    path: str
    query: str
    received_at: float
    status: int | None = None
    """Status sent, or None when no reply was sent (a dropped connection)."""
    answered_at: float | None = None
    fault: str | None = None
    """Action of the fault rule that applied, if any."""

    def to_json(self) -> dict[str, Any]:
        """Return the entry as listed by ``GET /_control/requests``."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "received_at": self.received_at,
            "answered_at": self.answered_at,
            "fault": self.fault,
        }


class RequestLog:
    """Bounded, thread-safe log of API requests (oldest dropped first)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestLogEntry] = deque(maxlen=maxlen)
        self.total = 0
        """Requests logged since the last clear, including those the bound dropped."""

    def start(self, method: str, path: str, query: str) -> RequestLogEntry:
        """Log a request as it arrives and return its entry, to be completed by answer()."""
        entry = RequestLogEntry(method=method, path=path, query=query, received_at=time.time())
        with self._lock:
            self._entries.append(entry)
            self.total += 1
        return entry

    def answer(self, entry: RequestLogEntry, status: int | None) -> None:
        """Record the status sent for a logged request (None when the connection was dropped)."""
        with self._lock:
            entry.status = status
            entry.answered_at = time.time()

    def entries(self) -> list[RequestLogEntry]:
        """Return a copy of the logged entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def to_json(self) -> list[dict[str, Any]]:
        """Return the log as listed by ``GET /_control/requests``."""
        with self._lock:
            return [e.to_json() for e in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self.total = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
