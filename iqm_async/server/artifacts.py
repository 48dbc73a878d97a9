"""Compact artifacts of finished jobs: measurement bits kept as NumPy arrays, turned into JSON only when read.

A job of a million shots over twenty measured qubits holds about 20 MB of bits this way, against
hundreds of megabytes as nested Python lists; :attr:`PackedMeasurements.nbytes` is what the job
store counts towards its ``keep_finished_bytes`` bound.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["PackedMeasurements", "counts_nbytes", "measurements_nbytes"]


class PackedMeasurements:
    """The E7 object of one circuit, stored as a shots × clbits array of 0/1 and the clbits of each key."""

    __slots__ = ("bits", "keys")

    def __init__(self, keys: Sequence[tuple[str, Sequence[int]]], bits: np.ndarray[Any, np.dtype[np.uint8]]):
        self.keys = tuple((str(k), tuple(int(c) for c in clbits)) for k, clbits in keys)
        self.bits = bits

    @property
    def nbytes(self) -> int:
        """Bytes held by the bits (the key table is negligible)."""
        return int(self.bits.nbytes)

    @property
    def shots(self) -> int:
        """Number of shots (rows)."""
        return int(self.bits.shape[0])

    def to_json(self) -> dict[str, list[list[int]]]:
        """Return the E7 object: every key → one row per shot, one bit per locus component."""
        return {key: self.bits[:, list(clbits)].tolist() for key, clbits in self.keys}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedMeasurements):
            return self.keys == other.keys and np.array_equal(self.bits, other.bits)
        if isinstance(other, Mapping):
            return self.to_json() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<PackedMeasurements {self.shots} shots, keys {[k for k, _ in self.keys]}>"


def measurements_nbytes(item: PackedMeasurements | Mapping[str, Any]) -> int:
    """Estimate the bytes one circuit's measurements hold (exact for packed ones, a list-based estimate otherwise)."""
    if isinstance(item, PackedMeasurements):
        return item.nbytes
    total = 0
    for rows in item.values():
        # A list of rows: the outer list's slots, and every row list with its slots (small ints are shared).
        total += sys.getsizeof(rows) + sum(sys.getsizeof(row) for row in rows)
    return total


def counts_nbytes(item: Mapping[str, Any]) -> int:
    """Estimate the bytes one circuit's counts entry holds (its bitstring keys dominate)."""
    counts = item.get("counts", {})
    if not isinstance(counts, Mapping):
        return 0
    return sys.getsizeof(counts) + sum(sys.getsizeof(k) + 32 for k in counts)
