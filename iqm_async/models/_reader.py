"""Typed reading of JSON objects for the wire models: one chosen error class, a path in every message."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from ..errors import MalformedResponseError

T = TypeVar("T")


def parse_uuid(value: object) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or None if it is not one.

    The error is raised by the caller outside any ``except`` block on purpose: a ``ValueError`` from
    :class:`uuid.UUID` chained as the context keeps a half-built UUID in its frame, and a traceback
    rendered with locals (``pytest -l``, error reporters) fails on that object's ``repr``.
    """
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class _Reader:
    """Typed field access over a JSON object that raises one chosen error class with a path."""

    def __init__(self, obj: object, where: str, error: type[Exception]):
        if not isinstance(obj, dict):
            raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.obj: dict[str, Any] = obj
        self.where = where
        self.error = error

    def fail(self, key: str, expected: str) -> Exception:
        got = self.obj.get(key, None)
        return self.error(f"{self.where}.{key}: expected {expected}, got {_short(got)}")

    def has(self, key: str) -> bool:
        return key in self.obj and self.obj[key] is not None

    def str_(self, key: str, default: str | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "a string")
        value = self.obj[key]
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def int_(self, key: str, default: int | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "an integer")
        value = self.obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer")
        return value

    def float_(self, key: str, default: float | None = None, *, optional: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.fail(key, "a number")
        value = self.obj[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, "a finite number")
        return float(value)

    def list_(self, key: str, *, optional: bool = False) -> list[Any]:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return []
            raise self.fail(key, "an array")
        value = self.obj[key]
        if not isinstance(value, list):
            raise self.fail(key, "an array")
        return value

    def dict_(self, key: str, *, optional: bool = False) -> dict[str, Any] | None:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return None
            raise self.fail(key, "an object")
        value = self.obj[key]
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.str_(key, default, optional=True)
        if value not in choices:
            raise self.error(f"{self.where}.{key}: expected one of {list(choices)}, got {_short(value)}")
        return str(value)

    def uuid_(self, key: str, *, optional: bool = False) -> str | None:
        value = self.str_(key, None, optional=optional)
        if value is None:
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            raise self.fail(key, "a UUID")
        return str(parsed)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _str_list(items: object, where: str, error: type[Exception]) -> tuple[str, ...]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise error(f"{where}: expected an array of strings, got {_short(items)}")
    return tuple(items)


def _iso(ts: datetime) -> str:
    text = ts.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponseError(f"{where}: expected an ISO-8601 timestamp, got {_short(value)}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise MalformedResponseError(f"{where}: expected an ISO-8601 timestamp, got {_short(value)}") from None
