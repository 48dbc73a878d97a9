"""MOVE routing for star chips: fictional qubit–qubit ``cz`` gates become MOVE / ``cz(qubit, resonator)`` / MOVE.

A circuit transpiled onto the qubit-only view of a star chip (see :mod:`iqm_async.transpiler.target`)
has ``cz`` gates between qubits that only meet in a computational resonator. This pass *parks* one of
the two qubits in the resonator (``move(m, r)``), applies ``cz(g, r)``, and moves the state back
(``move(m, r)`` again) before anything else needs the qubit, obeying IQM's MOVE rules:

* a resonator holds at most one moved state, and it goes back to the qubit it came from before any
  other MOVE uses that resonator;
* while a qubit's state is in a resonator, nothing but a barrier touches that qubit;
* every state is back in its qubit at the end of the circuit (so measurements are only on qubits).

Every park costs two MOVEs, so the pass makes each park serve as many ``cz`` gates as it can. It
schedules on the circuit's dependency graph, treating ``cz`` gates that follow each other on a wire as
commuting (they are all diagonal), so a parked qubit stays in the resonator for every ``cz`` it
takes part in before its next single-qubit gate, whatever order the circuit listed them in. When a
MOVE is unavoidable it parks the qubit with the most ``cz`` gates still to come in its run.

Circuits that already contain MOVEs (on the view with resonators) are first read back into qubit
terms according to :class:`ExistingMoveHandlingOptions`: ``keep`` validates them and keeps each MOVE
(a state is parked where the circuit parks it), ``trust`` does the same without validation and repairs
what breaks the rules with extra MOVEs, ``remove`` drops them and routes from scratch. Read back, a
gate on the resonator acts on the state the circuit moved there, and (``trust``/``remove``) a gate on a
qubit whose state the circuit moved away acts on that state (it is brought home for the gate; a ``cz``
with an empty resonator does nothing and is dropped).
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qiskit.circuit import Clbit, QuantumRegister  # type: ignore[import-untyped, unused-ignore]
from qiskit.circuit.library import CZGate  # type: ignore[import-untyped, unused-ignore]
from qiskit.dagcircuit import DAGCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler import Layout, TranspilerError  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.basepasses import TransformationPass  # type: ignore[import-untyped, unused-ignore]

from ..errors import CircuitTranspilationError
from .gates import MOVE, MoveGate
from .target import IQMTarget, StarTopology

__all__ = ["ExistingMoveHandlingOptions", "MoveRoutingError", "ResonatorMoveRouting", "route_moves"]


class MoveRoutingError(CircuitTranspilationError, TranspilerError):  # type: ignore[misc, unused-ignore]
    """A circuit cannot be routed through the resonators (both IQM's and Qiskit's transpilation error)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.message = message  # what Qiskit's errors carry

    def __str__(self) -> str:
        return self.message


class ExistingMoveHandlingOptions(str, enum.Enum):
    """How MOVE routing treats MOVE gates a circuit already contains (IQM's names and values)."""

    KEEP = "keep"
    """Validate the circuit's MOVEs against IQM's rules first (a violation raises), keep them, route the rest."""
    TRUST = "trust"
    """Like ``keep`` without the validation; MOVEs that break the rules are repaired with extra MOVEs."""
    REMOVE = "remove"
    """Drop the circuit's MOVEs (their gates become qubit–qubit gates again) and route from scratch."""


_CZ, _OTHER, _BARRIER, _PARK, _UNPARK = range(5)
_Plan = tuple[int, int, int, tuple[Any, ...]]


@dataclass
class _Op:
    """One operation of the logical (qubit-only) circuit."""

    op: Any
    qubits: tuple[int, ...]
    clbits: tuple[Clbit, ...]
    kind: int
    resonator: int = -1  # for _PARK: where the circuit parks the qubit


def _kind(name: str, n_qubits: int) -> int:
    if name == "cz" and n_qubits == 2:
        return _CZ
    if name == "barrier":
        return _BARRIER
    return _OTHER


def route_moves(
    dag: DAGCircuit,
    star: StarTopology,
    existing_moves: ExistingMoveHandlingOptions = ExistingMoveHandlingOptions.KEEP,
) -> DAGCircuit:
    """Return ``dag`` with every qubit–qubit ``cz`` that needs a resonator routed through one, and the resonators added.

    ``dag`` is on physical Qiskit indices: either the qubits only, or the qubits followed by the
    resonators (when it already contains MOVEs). The result has the qubits followed by the resonators.

    Raises:
        MoveRoutingError: a gate that no resonator or coupler can implement, a circuit wider than the
            chip, or (``keep``) MOVEs that break IQM's rules.
    """
    n, resonators = star.num_qubits, star.resonators
    width = dag.num_qubits()
    if width > n + len(resonators):
        raise MoveRoutingError(
            f"The circuit has {width} qubits; the chip has {n} qubits and {len(resonators)} resonators"
        )
    index = {q: i for i, q in enumerate(dag.qubits)}
    raw = [(node.op, tuple(index[q] for q in node.qargs), tuple(node.cargs)) for node in dag.topological_op_nodes()]
    if width > n or any(op.name == MOVE for op, _, _ in raw):
        ops = _read_existing_moves(raw, star, ExistingMoveHandlingOptions(existing_moves))
    else:
        ops = [_Op(op, qs, cs, _kind(op.name, len(qs))) for op, qs, cs in raw]
    # The greedy choice is a heuristic; a few orders of preference cost little next to Qiskit's own
    # stages, so try each and keep the routing with the fewest MOVEs (the first on a tie).
    emitted = min((_Router(ops, star, strategy).run() for strategy in _STRATEGIES), key=_move_count)

    out = dag.copy_empty_like()
    if width < n + len(resonators):
        missing = n + len(resonators) - width
        if width < n:
            out.add_qreg(QuantumRegister(n - width, "ancilla"))
        if resonators:
            out.add_qreg(QuantumRegister(missing - max(0, n - width), "resonators"))
    qubits = out.qubits
    for op, qs, cs in emitted:
        out.apply_operation_back(op, tuple(qubits[i] for i in qs), cs, check=False)
    return out


def _read_existing_moves(
    raw: Sequence[tuple[Any, tuple[int, ...], tuple[Clbit, ...]]],
    star: StarTopology,
    mode: ExistingMoveHandlingOptions,
) -> list[_Op]:
    """Rewrite a circuit with MOVEs and resonator wires into qubit terms, with park hints for ``keep``/``trust``."""
    n = star.num_qubits
    resonators = set(star.resonators)
    strict = mode is ExistingMoveHandlingOptions.KEEP
    hints = mode is not ExistingMoveHandlingOptions.REMOVE
    content: dict[int, int] = {}  # resonator → qubit whose state the circuit has moved into it
    where: dict[int, int] = {}  # qubit → resonator holding its state
    ops: list[_Op] = []

    def fail(message: str) -> None:
        raise MoveRoutingError(f"MOVE gates of the circuit break IQM's rules: {message}")

    def restore(q: int) -> None:
        r = where.pop(q)
        del content[r]
        if hints:
            ops.append(_Op(None, (q,), (), _UNPARK, resonator=r))

    for op, qs, cs in raw:
        if op.name == MOVE:
            q, r = qs
            if q >= n or r not in resonators or (q, r) not in star.move:
                raise MoveRoutingError(f"move on {list(qs)} is not a calibrated [qubit, resonator] MOVE locus")
            if content.get(r) == q:
                restore(q)
                continue
            if r in content:
                if strict:
                    fail(f"move({q}, {r}) while resonator {r} holds the state of qubit {content[r]}")
                restore(content[r])
            if q in where:
                if strict:
                    fail(f"move({q}, {r}) while the state of qubit {q} is in resonator {where[q]}")
                restore(q)
            content[r], where[q] = q, r
            if hints:
                ops.append(_Op(None, (q,), (), _PARK, resonator=r))
            continue
        if op.name == "barrier":
            mapped = tuple(dict.fromkeys(content.get(q, q) for q in qs if q < n or q in content))
            if mapped:
                ops.append(_Op(op, mapped, cs, _BARRIER))
            continue
        mapped_qs: list[int] = []
        for q in qs:
            if q >= n:
                if op.name != "cz":
                    raise MoveRoutingError(f"{op.name} cannot act on a computational resonator; only cz and move can")
                if q not in content:
                    if strict:
                        fail(f"cz on resonator {q} while it holds no qubit state")
                    break  # a cz with an empty resonator does nothing
                mapped_qs.append(content[q])
            else:
                if q in where and strict:
                    fail(f"{op.name} on qubit {q} while its state is in resonator {where[q]}")
                # Otherwise the gate acts on the qubit's state wherever it is; routing brings it home first.
                mapped_qs.append(q)
        else:
            ops.append(_Op(op, tuple(mapped_qs), cs, _kind(op.name, len(mapped_qs))))
    if where:
        if strict:
            fail(f"the circuit ends while qubit states are in resonators ({sorted(where)})")
        for q in list(where):
            restore(q)
    return ops


_STRATEGIES = ("longest_run", "circuit_order")
_MOVE_GATE = MoveGate()  # one shared instance, as Qiskit shares its standard gates: MOVE has no parameters
_CZ_GATE = CZGate()


def _move_count(emitted: list[tuple[Any, tuple[int, ...], tuple[Clbit, ...]]]) -> int:
    return sum(1 for op, _, _ in emitted if op.name == MOVE)


class _Router:
    """The greedy scheduler: runs every op that needs no MOVE first, and parks as well as it can when one must."""

    def __init__(self, ops: list[_Op], star: StarTopology, strategy: str = _STRATEGIES[0]) -> None:
        self.ops = ops
        self.star = star
        self.strategy = strategy
        self.blockers = [0] * len(ops)
        self.unblocks: list[list[int]] = [[] for _ in ops]
        self.runs: list[tuple[int, ...]] = [() for _ in ops]  # for a cz: its run id on each of its two wires
        self.where: dict[int, int] = {}  # qubit → resonator holding its state
        self.holder: dict[int, int] = {}  # resonator → qubit whose state it holds
        self.out: list[tuple[Any, tuple[int, ...], tuple[Clbit, ...]]] = []
        self.run_left: list[int] = []  # unexecuted cz gates per run
        self.current_run: dict[int, int] = {}  # qubit → run id of its next unexecuted op (-1: not a cz)
        self.wire_ops: dict[int, list[int]] = {}
        self.wire_pos: dict[int, int] = {}
        self.done: list[bool] = [False] * len(ops)
        self._dependencies()

    def _dependencies(self) -> None:
        """Link each op to the ops it must wait for: cz gates in one run on a wire commute with each other."""
        ops = self.ops
        last_non_cz: dict[int, int] = {}  # wire → last non-cz op
        open_run: dict[int, list[int]] = {}  # wire → cz ops of the run in progress
        run_id: dict[int, int] = {}
        last_clbit: dict[Clbit, int] = {}

        def link(before: int, after: int) -> None:
            self.unblocks[before].append(after)
            self.blockers[after] += 1

        for i, op in enumerate(ops):
            for q in op.qubits:
                self.wire_ops.setdefault(q, []).append(i)
            if op.kind == _CZ:
                runs = []
                for q in op.qubits:
                    if q not in open_run:
                        open_run[q] = []
                        run_id[q] = len(self.run_left)
                        self.run_left.append(0)
                    open_run[q].append(i)
                    self.run_left[run_id[q]] += 1
                    runs.append(run_id[q])
                    if q in last_non_cz:
                        link(last_non_cz[q], i)
                self.runs[i] = tuple(runs)
            else:
                for q in op.qubits:
                    if q in open_run:
                        for j in open_run.pop(q):
                            link(j, i)
                    elif q in last_non_cz:
                        link(last_non_cz[q], i)
                    last_non_cz[q] = i
            for c in op.clbits:
                if c in last_clbit:
                    link(last_clbit[c], i)
                last_clbit[c] = i
        for q in self.wire_ops:
            self.wire_pos[q] = 0

    # ------------------------------------------------------------------ state

    def _remaining(self, q: int) -> int:
        """Unexecuted cz gates in the run that qubit ``q`` is in now (0 when its next op is not a cz)."""
        wire = self.wire_ops.get(q, ())
        pos = self.wire_pos.get(q, 0)
        while pos < len(wire) and self.done[wire[pos]]:
            pos += 1
        self.wire_pos[q] = pos
        if pos >= len(wire):
            return 0
        op = self.ops[wire[pos]]
        if op.kind != _CZ:
            return 0
        return self.run_left[self.runs[wire[pos]][op.qubits.index(q)]]

    def _move(self, q: int, r: int) -> None:
        self.out.append((_MOVE_GATE, (q, r), ()))
        if self.holder.get(r) == q:
            del self.holder[r], self.where[q]
        else:
            self.holder[r], self.where[q] = q, r

    def _unpark_cost(self, q: int, exclude: _Op | None = None) -> int:
        """Extra MOVEs caused by moving ``q`` back now: 2 if it still has cz gates to do in the resonator."""
        left = self._remaining(q)
        if exclude is not None and exclude.kind == _CZ and q in exclude.qubits:
            left -= 1
        return 2 if left > 0 else 0

    # ------------------------------------------------------------------ planning

    def _plan(self, op: _Op) -> _Plan:
        """Return ``(penalty, -benefit, moves, action)`` of the cheapest way to execute ``op`` now.

        ``penalty`` counts the MOVEs the action adds to the circuit's total (a new park costs two; moving
        a state back early costs two more, to park it again later), ``moves`` the MOVEs it emits now.
        """
        where = self.where
        if op.kind == _BARRIER:
            return 0, 0, 0, ("plain",)
        if op.kind == _PARK:
            (q,), r = op.qubits, op.resonator
            if where.get(q) == r:
                return 0, 0, 0, ("noop",)
            evicted = [x for x in (self.holder.get(r), q if q in where else None) if x is not None]
            return 2 + sum(self._unpark_cost(x) for x in evicted), 0, 1 + len(evicted), ("park", q, r)
        if op.kind == _UNPARK:
            (q,) = op.qubits
            return (0, 0, 1, ("unpark", q)) if q in where else (0, 0, 0, ("noop",))
        if op.kind == _OTHER:
            parked = [q for q in op.qubits if q in where]
            return sum(self._unpark_cost(q) for q in parked), 0, len(parked), ("plain",)
        return self._plan_cz(op)

    def _plan_cz(self, op: _Op) -> _Plan:
        star, where, holder = self.star, self.where, self.holder
        a, b = op.qubits
        best: _Plan | None = None
        if (a, b) in star.cz:  # a real coupler
            parked = [q for q in (a, b) if q in where]
            best = (sum(self._unpark_cost(q, op) for q in parked), 0, len(parked), ("direct",))
            if not parked:
                return best
        for g, m in ((a, b), (b, a)):
            for r in star.resonators:
                if (g, r) not in star.cz or (m, r) not in star.move:
                    continue
                penalty = moves = 0
                if where.get(m) != r:
                    penalty += 2  # a new park: in now, back out later
                    moves += 1
                    occupant = holder.get(r)
                    if occupant is not None:
                        penalty += self._unpark_cost(occupant, op)
                        moves += 1
                    if m in where:
                        penalty += self._unpark_cost(m, op)
                        moves += 1
                if g in where:
                    penalty += self._unpark_cost(g, op)
                    moves += 1
                candidate = (penalty, -self._remaining(m), moves, ("via", g, m, r))
                if best is None or candidate[:3] < best[:3]:
                    best = candidate
        if best is None:
            raise MoveRoutingError(
                f"cz between qubits {a} and {b} can be implemented neither by a coupler nor through a resonator"
            )
        return best

    # ------------------------------------------------------------------ execution

    def _execute(self, i: int, action: tuple[Any, ...]) -> None:
        op = self.ops[i]
        where, holder = self.where, self.holder
        kind = action[0]
        if kind == "plain":
            if op.kind != _BARRIER:
                for q in op.qubits:
                    if q in where:
                        self._move(q, where[q])
            self.out.append((op.op, op.qubits, op.clbits))
        elif kind == "direct":
            for q in op.qubits:
                if q in where:
                    self._move(q, where[q])
            self.out.append((op.op, op.qubits, op.clbits))
        elif kind == "via":
            _, g, m, r = action
            if g in where:
                self._move(g, where[g])
            if where.get(m) != r:
                if r in holder:
                    self._move(holder[r], r)
                if m in where:
                    self._move(m, where[m])
                self._move(m, r)
            self.out.append((_CZ_GATE, (g, r), op.clbits))
        elif kind == "park":
            _, q, r = action
            if r in holder:
                self._move(holder[r], r)
            if q in where:
                self._move(q, where[q])
            self._move(q, r)
        elif kind == "unpark":
            q = action[1]
            self._move(q, where[q])
        self.done[i] = True
        for run in self.runs[i]:
            self.run_left[run] -= 1

    def run(self) -> list[tuple[Any, tuple[int, ...], tuple[Clbit, ...]]]:
        """Schedule every op and return the routed instructions as ``(operation, qubits, clbits)``."""
        ops = self.ops
        ready = [i for i in range(len(ops)) if self.blockers[i] == 0]
        heapq.heapify(ready)
        waiting: list[int] = []  # ready ops that need a MOVE, re-examined when nothing else can run
        while ready or waiting:
            while ready:
                i = heapq.heappop(ready)
                plan = self._plan(ops[i])
                if plan[2] == 0:
                    self._finish(i, plan[3], ready)
                else:
                    waiting.append(i)
            if not waiting:
                break
            # Nothing runs without a MOVE: take the cheapest action over every waiting op.
            if self.strategy == "circuit_order":
                _, i = min(((self._plan(ops[i])[0], i), i) for i in waiting)
            else:
                _, i = min((self._plan(ops[i])[:3], i) for i in waiting)
            waiting.remove(i)
            self._finish(i, self._plan(ops[i])[3], ready)
            for j in waiting:
                heapq.heappush(ready, j)
            waiting.clear()
        for r, q in sorted(self.holder.items()):
            self.out.append((_MOVE_GATE, (q, r), ()))
        self.holder.clear()
        self.where.clear()
        return self.out

    def _finish(self, i: int, action: tuple[Any, ...], ready: list[int]) -> None:
        self._execute(i, action)
        for j in self.unblocks[i]:
            self.blockers[j] -= 1
            if self.blockers[j] == 0:
                heapq.heappush(ready, j)


class ResonatorMoveRouting(TransformationPass):  # type: ignore[misc, unused-ignore]  # qiskit ships no types
    """Qiskit pass: route qubit–qubit ``cz`` gates through computational resonators with MOVEs (star chips).

    It needs an :class:`~iqm_async.transpiler.target.IQMTarget` (the backend's target) and does nothing on
    chips without MOVE. It appends the resonators to the circuit as qubits and extends the layout to them,
    so the routed circuit runs as it is.

    Args:
        target: the backend's target.
        existing_moves_handling: what to do with MOVEs the circuit already contains.
    """

    def __init__(
        self,
        target: IQMTarget,
        existing_moves_handling: ExistingMoveHandlingOptions | str = ExistingMoveHandlingOptions.KEEP,
    ) -> None:
        super().__init__()
        self.target = target
        self.star = StarTopology(target.iqm_dqa, target.component_names)
        self.existing_moves_handling = ExistingMoveHandlingOptions(_value(existing_moves_handling))

    def run(self, dag: DAGCircuit) -> DAGCircuit:
        """Route ``dag`` through the resonators; return it unchanged on chips without MOVE or without operations."""
        if not self.star.has_moves or dag.size() == 0:
            return dag
        width = dag.num_qubits()
        new = route_moves(dag, self.star, self.existing_moves_handling)
        added = new.qubits[width:]
        if added:
            self._extend_layouts(new, width, added)
        return new

    def _extend_layouts(self, new: DAGCircuit, width: int, added: Sequence[Any]) -> None:
        """Give the qubits this pass appended a place in the initial and final layouts (Qiskit needs every qubit)."""
        layout = self.property_set["layout"]
        if layout is not None:
            layout = layout.copy()
            extra = QuantumRegister(len(added), "iqm_resonators")
            layout.add_register(extra)
            indices = self.property_set["original_qubit_indices"]
            for k, virtual in enumerate(extra):
                layout.add(virtual, width + k)
                if indices is not None:
                    indices[virtual] = width + k
            self.property_set["layout"] = layout
        final = self.property_set["final_layout"]
        if final is not None:
            mapping = {q: i for q, i in final.get_virtual_bits().items()}
            for k, q in enumerate(added):
                mapping[q] = width + k
            self.property_set["final_layout"] = Layout(mapping)


def _value(option: Any) -> str:
    """Accept our enum, IQM's enum or its plain value."""
    return str(getattr(option, "value", option))
