"""Results that save and load: JSON files (gzip-compressed when the name ends in ``.gz``) of results and batch outcomes.

Usage::

    save_results("run.json.gz", result)                  # a qiskit Result of a job
    save_results("sweep.json", await batch.outcomes())   # a batch: every circuit's result or error
    loaded = load_results("sweep.json")                   # always a list, in the order saved

Three kinds of item go in a file, each as JSON-native data: a job's ``qiskit.result.Result`` (its
:meth:`~qiskit.result.Result.to_dict`, with ids as strings, dataclasses as dicts and times as ISO-8601
text), a :class:`~iqm_async.CircuitResult` (shots, memory, counts and the register layout), and a
batch :class:`~iqm_async.Outcome` (index, job id, position, and its result or its error's type and
message). Loading gives back the same kinds, with equal counts and memory; a ``Result`` again has
``calibration_set_id`` as a UUID and ``parameters``/``timeline``/``circuits`` as objects, as a fresh one.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IQMError

if TYPE_CHECKING:
    from qiskit.result import Result

    from .batch import Outcome
    from .results import CircuitResult

__all__ = ["FORMAT", "SavedError", "circuit_result_from_json", "json_native", "load_results", "save_results"]

FORMAT = "iqm-async-results"
"""The ``format`` field of every results file."""
_VERSION = 1


class SavedError(IQMError):
    """An error read back from a results file; ``type_name`` is the class it had when it was saved."""

    def __init__(self, message: str, *, type_name: str, job_id: str | None = None):
        super().__init__(message)
        self.type_name = type_name
        self.job_id = job_id


def json_native(value: Any) -> Any:
    """Return ``value`` with only JSON types: UUIDs as strings, dataclasses as dicts, datetimes as ISO-8601 text.

    Objects with a ``to_json()`` method (the wire models) are written in their wire form; numpy
    scalars and arrays become numbers and lists; enums become their values.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, enum.Enum):
            return value.value
        return value
    if isinstance(value, enum.Enum):
        return json_native(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return json_native(to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_native(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_native(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return json_native(tolist())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return json_native(to_dict())
    raise TypeError(f"{type(value).__name__} cannot be saved as JSON: {value!r}"[:300])


# --------------------------------------------------------------------------------------------------
# CircuitResult
# --------------------------------------------------------------------------------------------------


def _circuit_result_json(value: CircuitResult) -> dict[str, Any]:
    # The hex forms are derived from memory on load, so each shot is stored once.
    return {
        "shots": value.shots,
        "memory": value.memory,
        "counts": value.counts,
        "creg_sizes": json_native(value.creg_sizes),
        "memory_slots": value.memory_slots,
    }


def _hex(bits: str) -> str:
    return hex(int(bits.replace(" ", "") or "0", 2))


def circuit_result_from_json(obj: Mapping[str, Any]) -> CircuitResult:
    """Rebuild a :class:`~iqm_async.CircuitResult` from its saved form (hex forms derived from the bitstrings)."""
    from .results import CircuitResult

    memory = [str(m) for m in obj["memory"]]
    counts = {str(k): int(v) for k, v in dict(obj["counts"]).items()}
    return CircuitResult(
        shots=int(obj["shots"]),
        memory=memory,
        counts=counts,
        hex_memory=[_hex(m) for m in memory],
        hex_counts={_hex(k): v for k, v in counts.items()},
        creg_sizes=[[str(n), int(s)] for n, s in obj["creg_sizes"]],
        memory_slots=int(obj["memory_slots"]),
    )


# --------------------------------------------------------------------------------------------------
# qiskit Result
# --------------------------------------------------------------------------------------------------


def _result_json(result: Result) -> dict[str, Any]:
    return dict(json_native(result.to_dict()))


def _result_from_json(obj: Mapping[str, Any]) -> Result:
    """Rebuild a ``Result`` with the same types a fresh one has (UUIDs, parameter and timeline objects)."""
    from .models import Circuit, TimelineEntry
    from .qiskit_result import FormattedResult, ResultParameters

    data = dict(obj)
    results = []
    for entry in data.get("results") or []:
        entry = dict(entry)
        calset = entry.get("calibration_set_id")
        if isinstance(calset, str):
            entry["calibration_set_id"] = uuid.UUID(calset)
        results.append(entry)
    data["results"] = results
    params = data.get("parameters")
    if isinstance(params, Mapping):
        params = dict(params)
        if isinstance(params.get("calibration_set_id"), str):
            params["calibration_set_id"] = uuid.UUID(params["calibration_set_id"])
        names = {f.name for f in dataclasses.fields(ResultParameters)}
        # A file from another version with other fields keeps its parameters as a dict.
        data["parameters"] = ResultParameters(**params) if set(params) == names else params
    if isinstance(data.get("timeline"), list):
        data["timeline"] = [
            TimelineEntry(source=str(t["source"]), status=str(t["status"]), timestamp=_parse_time(t["timestamp"]))
            for t in data["timeline"]
        ]
    if isinstance(data.get("circuits"), list):
        data["circuits"] = [Circuit.from_json(c, f"circuits[{i}]") for i, c in enumerate(data["circuits"])]
    return FormattedResult.from_dict(data)


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------
# Outcome
# --------------------------------------------------------------------------------------------------


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    error = outcome.error
    return {
        "index": outcome.index,
        "job_id": outcome.job_id,
        "position": outcome.position,
        "value": None if outcome.value is None else _circuit_result_json(outcome.value),
        "error": None
        if error is None
        else {
            "type": type(error).__name__,
            "message": str(error),
            "job_id": getattr(error, "job_id", None),
        },
    }


def _outcome_from_json(obj: Mapping[str, Any]) -> Outcome:
    from .batch import Outcome

    error = obj.get("error")
    return Outcome(
        index=int(obj["index"]),
        job_id=obj.get("job_id"),
        value=None if obj.get("value") is None else circuit_result_from_json(obj["value"]),
        error=None
        if error is None
        else SavedError(str(error["message"]), type_name=str(error["type"]), job_id=error.get("job_id")),
        position=int(obj.get("position", 0)),
    )


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _item(value: Any) -> dict[str, Any]:
    from qiskit.result import Result

    from .batch import Outcome
    from .results import CircuitResult

    if isinstance(value, Result):
        return {"kind": "result", "result": _result_json(value)}
    if isinstance(value, CircuitResult):
        return {"kind": "circuit_result", "circuit_result": _circuit_result_json(value)}
    if isinstance(value, Outcome):
        return {"kind": "outcome", "outcome": _outcome_json(value)}
    raise TypeError(
        f"save_results() saves qiskit Results, CircuitResults and batch Outcomes, not {type(value).__name__}"
    )


def save_results(path: str | os.PathLike[str], results: Any) -> Path:
    """Save one result or an iterable of them (``Result``, ``CircuitResult``, batch ``Outcome``) as JSON.

    A name ending in ``.gz`` is gzip-compressed. The file is written to a temporary name and renamed,
    so a crash never leaves half a file under ``path``. Returns the path written.

    Raises:
        TypeError: for an item of another kind (nothing is written).
    """
    from qiskit.result import Result

    from .batch import Outcome
    from .results import CircuitResult

    single = isinstance(results, (Result, CircuitResult, Outcome))
    items = [results] if single else list(results if isinstance(results, Iterable) else [results])
    document = {
        "format": FORMAT,
        "version": _VERSION,
        "saved": datetime.now(timezone.utc).isoformat(),
        "items": [_item(v) for v in items],
    }
    data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    target = Path(os.fspath(path))
    if target.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_results(path: str | os.PathLike[str]) -> list[Any]:
    """Load a file written by :func:`save_results`: a list of ``Result`` / ``CircuitResult`` / ``Outcome``.

    Compression is detected from the content, not the name.

    Raises:
        ValueError: the file is not a results file of this format (or of a newer version).
    """
    raw = Path(os.fspath(path)).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)} is not a results file (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is not an iqm-async results file")
    if int(document.get("version", 0)) > _VERSION:
        raise ValueError(f"{os.fspath(path)} was written by a newer iqm-async (version {document['version']})")
    out: list[Any] = []
    for i, item in enumerate(document.get("items") or []):
        kind = item.get("kind")
        if kind == "result":
            out.append(_result_from_json(item["result"]))
        elif kind == "circuit_result":
            out.append(circuit_result_from_json(item["circuit_result"]))
        elif kind == "outcome":
            out.append(_outcome_from_json(item["outcome"]))
        else:
            raise ValueError(f"{os.fspath(path)}: item {i} has an unknown kind {kind!r}")
    return out
