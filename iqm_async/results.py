"""Measurement formatting: IQM's per-key shot lists to Qiskit's bitstrings, counts and hex memory.

Pure numpy; no qiskit. The bit order follows docs/protocol.md#bit-order: registers in ascending creg index,
each register's bit 0 first, registers joined with a space, then the whole string reversed, so the
last register is leftmost and bit 0 of the first register is rightmost.

Everything here is vectorised over shots. :func:`parse_measurements_json` reads the E7 artifact
straight from the reply's bytes without building a Python list per shot; any layout it does not
recognise falls back to :func:`json.loads`, so it is an optimisation, never a different answer.
"""

from __future__ import annotations

import json
import operator
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import MalformedResponseError
from .models import parse_measurement_key

__all__ = [
    "CircuitResult",
    "ShotCountError",
    "format_circuit",
    "format_measurement_strings",
    "parse_measurements_json",
]

BitArray = npt.NDArray[np.uint8]
"""One key's bits: shape ``(shots, width)`` where width is the size of the measure locus."""


class ShotCountError(MalformedResponseError):
    """The artifact has the wrong number of shots or the wrong shape for a key."""


@dataclass(frozen=True)
class CircuitResult:
    """One circuit's formatted measurements, in every form Qiskit needs."""

    shots: int
    """Shots that came back (under heralding, possibly fewer than requested)."""
    memory: list[str]
    """Per-shot spaced binary strings, as ``Result.get_memory()`` shows them."""
    counts: dict[str, int]
    """Occurrences of each spaced binary string, as ``Result.get_counts()`` shows them."""
    hex_memory: list[str]
    """Per-shot hex strings (``"0x5"``), how Aer stores ``data.memory``."""
    hex_counts: dict[str, int]
    """Counts keyed by hex string, how Aer stores ``data.counts``."""
    creg_sizes: list[list[Any]]
    """``[[name, size], …]`` for every register, in creg index order (Qiskit header field)."""
    memory_slots: int
    """Total classical bits (Qiskit header field)."""

    def __repr__(self) -> str:
        # One short line: the shots and the most frequent outcomes, never every shot (twice).
        top = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{k!r}: {v}" for k, v in top[:4])
        more = f", … {len(top) - 4} more" if len(top) > 4 else ""
        return f"CircuitResult(shots={self.shots}, counts={{{shown}{more}}})"


# --------------------------------------------------------------------------------------------------
# Parsing the E7 artifact
# --------------------------------------------------------------------------------------------------

# A key, then the opening bracket of its value: the only places where a '"' can appear.
_KEY_RE = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*\[')
_DIGIT0, _DIGIT1 = ord("0"), ord("1")
_GAP = b", \t\r\n"
# Bytes allowed inside a value of shot rows other than the bits themselves.
_ALLOWED = np.zeros(256, dtype=bool)
for _ch in b"[], \t\r\n01":
    _ALLOWED[_ch] = True


def parse_measurements_json(content: bytes | str) -> list[dict[str, BitArray]]:
    """Parse an E7 measurements artifact into ``[{key: bits(shots, width)}]``, one dict per circuit.

    Raises:
        MalformedResponseError: if the body is not a list of ``{key: [[bit, …], …]}`` objects.
    """
    data = content.encode() if isinstance(content, str) else content
    fast = _parse_fast(data)
    if fast is not None:
        return fast
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise MalformedResponseError(f"measurements: the body is not JSON ({exc})") from None
    return measurements_from_lists(parsed)


def measurements_from_lists(parsed: object) -> list[dict[str, BitArray]]:
    """Validate already-parsed E7 JSON and turn each key's rows into a uint8 array."""
    if not isinstance(parsed, list):
        raise MalformedResponseError("measurements: expected a list with one object per circuit")
    out: list[dict[str, BitArray]] = []
    for i, circuit in enumerate(parsed):
        if not isinstance(circuit, dict):
            raise MalformedResponseError(f"measurements[{i}]: expected an object of measurement keys")
        keys: dict[str, BitArray] = {}
        for key, rows in circuit.items():
            keys[key] = _rows_to_array(rows, f"measurements[{i}].{key}")
        out.append(keys)
    return out


def _rows_to_array(rows: object, where: str) -> BitArray:
    if isinstance(rows, np.ndarray):
        arr = rows
    else:
        if not isinstance(rows, list):
            raise MalformedResponseError(f"{where}: expected a list of shots")
        if not rows:
            return np.zeros((0, 1), dtype=np.uint8)
        single = _single_bit_rows(rows)
        if single is not None:
            return single
        try:
            arr = np.asarray(rows)
        except ValueError:  # ragged rows
            raise MalformedResponseError(f"{where}: shots have different widths") from None
    if arr.ndim != 2 or arr.dtype.kind not in "iub":
        raise MalformedResponseError(f"{where}: expected a list of shots, each a list of 0/1 integers")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise MalformedResponseError(f"{where}: measurement outcomes must be 0 or 1")
    return arr.astype(np.uint8, copy=False)


_FIRST = operator.itemgetter(0)


def _single_bit_rows(rows: list[Any]) -> BitArray | None:
    """Read ``[[b], [b], …]`` without numpy's generic list inference (the common case); None if unsure."""
    n = len(rows)
    try:
        # itemgetter fails on an empty row, and a total length of n then means every row has one entry.
        bits = np.fromiter(map(_FIRST, rows), dtype=np.uint8, count=n)
        if sum(map(len, rows)) != n:
            return None
    except (TypeError, ValueError, IndexError, OverflowError, KeyError):
        return None
    if bits.size and bits.max() > 1:
        return None
    return bits.reshape(n, 1)


def _parse_fast(data: bytes) -> list[dict[str, BitArray]] | None:
    """Parse the common layout of one bit per row without building Python lists; None if unsure."""
    stripped = data.strip()
    if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    # Object boundaries: values hold no braces or quotes, so '{' and '}' delimit circuits.
    opens = np.flatnonzero(buf == ord("{"))
    closes = np.flatnonzero(buf == ord("}"))
    if len(opens) != len(closes) or np.any(closes <= opens) or np.any(opens[1:] <= closes[:-1]):
        return None
    out: list[dict[str, BitArray]] = []
    for start, end in zip(opens.tolist(), closes.tolist()):
        keys: dict[str, BitArray] = {}
        pos = start + 1
        for m in _KEY_RE.finditer(data, start + 1, end):
            # Between one value and the next key there may only be a comma and white space.
            if m.start() < pos or data[pos : m.start()].strip(_GAP):
                return None
            value_start = m.end()  # just after the value's '['
            nxt = data.find(b'"', value_start, end)
            value_end = end if nxt < 0 else nxt
            seg = buf[value_start:value_end]
            if not _ALLOWED[seg].all():
                return None
            bits_mask = (seg == _DIGIT0) | (seg == _DIGIT1)
            bits = seg[bits_mask]
            n_open = int(np.count_nonzero(seg == ord("[")))
            n_close = int(np.count_nonzero(seg == ord("]")))
            if n_close != n_open + 1 or bits.size != n_open:
                return None  # not exactly one bit per row: let the general parser decide
            # Reject digits glued together ("01") or values like "10": each digit must stand alone.
            if bits.size and np.any(np.diff(np.flatnonzero(bits_mask)) == 1):
                return None
            try:
                key = json.loads(b'"' + m.group(1) + b'"')
            except ValueError:
                return None
            if key in keys:
                return None
            keys[key] = (bits - _DIGIT0).reshape(-1, 1)
            pos = value_end
        if data[pos:end].strip(_GAP):
            return None
        out.append(keys)
    # Anything outside the objects must be list punctuation.
    outside = np.ones(buf.size, dtype=bool)
    for start, end in zip(opens.tolist(), closes.tolist()):
        outside[start : end + 1] = False
    rest = buf[outside]
    if rest.size and not np.isin(rest, np.frombuffer(b"[], \t\r\n", dtype=np.uint8)).all():
        return None
    return out


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def _registers_from_keys(
    measurements: Mapping[str, BitArray],
) -> tuple[dict[int, tuple[str, int]], list[tuple[int, int, BitArray]]]:
    """Return {creg index: (name, size)} and (creg index, clbit, column) for each key."""
    registers: dict[int, tuple[str, int]] = {}
    columns: list[tuple[int, int, BitArray]] = []
    for key, rows in measurements.items():
        try:
            name, size, creg_idx, clbit = parse_measurement_key(key)
        except ValueError as exc:
            raise MalformedResponseError(str(exc)) from None
        known = registers.setdefault(creg_idx, (name, size))
        if known[1] != size:
            raise MalformedResponseError(f"measurement key {key!r}: register {creg_idx} has two sizes")
        if rows.ndim != 2 or rows.shape[1] != 1:
            if rows.shape[0] == 0:
                rows = np.zeros((0, 1), dtype=np.uint8)
            else:
                raise ShotCountError(
                    f"Measurement result {key} has the wrong shape {tuple(rows.shape)}, expected one column"
                )
        columns.append((creg_idx, clbit, rows[:, 0]))
    return registers, columns


def _bits_matrix(
    measurements: Mapping[str, BitArray],
    requested_shots: int,
    expect_exact_shots: bool,
    registers: Sequence[tuple[str, int]] | None,
) -> tuple[npt.NDArray[np.uint8], list[tuple[str, int]], int, bool]:
    """Check shots and lay the keys out as bits[shot, global clbit]; also say whether any key was seen."""
    found, columns = _registers_from_keys(measurements)
    shot_counts = {len(col) for _, _, col in columns}
    if len(shot_counts) > 1:
        raise ShotCountError(f"Measurement keys have different numbers of shots: {sorted(shot_counts)}")
    shots = shot_counts.pop() if shot_counts else 0
    if expect_exact_shots and columns and shots != requested_shots:
        raise ShotCountError(f"Expected {requested_shots} shots but got {shots}")
    if not expect_exact_shots and columns and shots == 0:
        warnings.warn(
            "Received measurement results containing zero shots. With heralding this can mean that no shot "
            "passed the heralding measurement.",
            stacklevel=2,
        )
    if registers is not None:
        layout = {i: (name, size) for i, (name, size) in enumerate(registers)}
        for idx, (name, size) in found.items():
            if layout.get(idx) != (name, size):
                raise MalformedResponseError(
                    f"measurement register {name!r} (index {idx}, size {size}) does not match the circuit"
                )
    else:
        layout = dict(sorted(found.items()))
    if not columns:
        regs = [layout[i] for i in sorted(layout)]
        return np.zeros((0, sum(s for _, s in regs)), dtype=np.uint8), regs, 0, False
    order = sorted(layout)
    offsets: dict[int, int] = {}
    width = 0
    for idx in order:
        offsets[idx] = width
        width += layout[idx][1]
    # bits[shot, global clbit]: global clbit = register offset (ascending creg index) + bit index
    bits = np.zeros((shots, width), dtype=np.uint8)
    for creg_idx, clbit, col in columns:
        bits[:, offsets[creg_idx] + clbit] = col
    return bits, [layout[i] for i in order], shots, True


def format_circuit(
    measurements: Mapping[str, BitArray],
    requested_shots: int,
    *,
    expect_exact_shots: bool = True,
    registers: Sequence[tuple[str, int]] | None = None,
) -> CircuitResult:
    """Format one circuit's measurements into Qiskit's strings, counts and hex memory.

    Args:
        measurements: ``{key: bits(shots, 1)}`` for the circuit, as from :func:`parse_measurements_json`.
        requested_shots: shots asked for in the job.
        expect_exact_shots: True without heralding: every key must have exactly ``requested_shots`` rows.
        registers: the circuit's registers ``[(name, size), …]`` in creg index order, when the circuit is
            known; then every register appears (unmeasured bits 0), as in Qiskit's simulators. Without it,
            only registers that have a measurement appear, as in IQM's adapter.

    Raises:
        ShotCountError: on a wrong number of shots or a key with more than one bit per shot.
        MalformedResponseError: on a key that is not a measurement key.
    """
    bits, regs, shots, measured = _bits_matrix(measurements, requested_shots, expect_exact_shots, registers)
    if not measured:
        return CircuitResult(0, [], {}, [], {}, [[n, s] for n, s in regs], sum(s for _, s in regs))
    return _format_bits(bits, regs, shots)


def _format_bits(bits: npt.NDArray[np.uint8], regs: list[tuple[str, int]], shots: int) -> CircuitResult:
    width = bits.shape[1]
    # Work on distinct outcomes only: formatting cost scales with outcomes, not shots.
    if width <= 64:
        packed = np.packbits(bits, axis=1, bitorder="little")
        padded = np.zeros((shots, 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        values = padded.view("<u8").ravel()
        uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        uniq_rows = np.unpackbits(uniq.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")[:, :width]
        hex_uniq = _hex_strings(uniq)
    else:
        uniq_rows, inverse, counts = np.unique(bits, axis=0, return_inverse=True, return_counts=True)
        hex_uniq = [hex(int("".join(map(str, row[::-1].tolist())) or "0", 2)) for row in uniq_rows]
    inverse = inverse.reshape(-1)
    bin_uniq = _spaced_strings(uniq_rows, [s for _, s in regs])
    memory = np.asarray(bin_uniq, dtype=object)[inverse].tolist()
    hex_memory = np.asarray(hex_uniq, dtype=object)[inverse].tolist()
    count_list = counts.tolist()
    return CircuitResult(
        shots=shots,
        memory=memory,
        counts=dict(zip(bin_uniq, count_list)),
        hex_memory=hex_memory,
        hex_counts=dict(zip(hex_uniq, count_list)),
        creg_sizes=[[n, s] for n, s in regs],
        memory_slots=width,
    )


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_strings(values: npt.NDArray[np.uint64]) -> list[str]:
    """Render unsigned integers as Python-style hex (``0x1f``, no leading zeros), vectorised."""
    if values.size == 0:
        return []
    nibbles = (values[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4))) & np.uint64(15)
    chars = _HEX_DIGITS[nibbles.astype(np.intp)]
    # Significant digits per value (at least one, for zero).
    lengths = 16 - np.argmax(np.concatenate([nibbles != 0, np.ones((len(values), 1), bool)], axis=1), axis=1)
    lengths = np.maximum(lengths, 1)
    out = np.empty(len(values), dtype=object)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        block = np.empty((len(rows), length + 2), dtype=np.uint8)
        block[:, 0], block[:, 1] = ord("0"), ord("x")
        block[:, 2:] = chars[rows, 16 - length :]
        out[rows] = block.view(f"S{length + 2}").ravel().astype(f"U{length + 2}")
    result: list[str] = out.tolist()
    return result


def _spaced_strings(rows: npt.NDArray[np.uint8], sizes: Sequence[int]) -> list[str]:
    """Render rows of global clbits as Qiskit strings: last register first, spaces between registers."""
    if rows.shape[0] == 0:
        return []
    # Reverse the clbits, then insert a space column wherever one register ends and the next begins.
    chars = (rows[:, ::-1] + _DIGIT0).astype(np.uint8)
    boundaries = np.cumsum(list(reversed(sizes)))[:-1]
    if len(boundaries):
        chars = np.insert(chars, boundaries, ord(" "), axis=1)
    n = chars.shape[1]
    if n == 0:
        return [""] * rows.shape[0]
    strings: list[str] = np.ascontiguousarray(chars).view(f"S{n}").ravel().astype(f"U{n}").tolist()
    return strings


def format_measurement_strings(
    measurement_results: Mapping[str, Any], requested_shots: int, expect_exact_shots: bool = True
) -> list[str]:
    """Format one circuit's raw ``{key: [[bit], …]}`` into per-shot strings exactly as IQM's adapter does."""
    arrays = {k: _rows_to_array(v, k) for k, v in measurement_results.items()}
    bits, regs, _, measured = _bits_matrix(arrays, requested_shots, expect_exact_shots, None)
    # Render every shot directly: the compat path needs no counts or hex, so no de-duplication pass.
    return _spaced_strings(bits, [size for _, size in regs]) if measured else []
