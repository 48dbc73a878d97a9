"""Transpilation targets built from a dynamic quantum architecture, with the qubit-only view of star chips.

Qiskit index *i* means component ``names[i]``, where ``names`` is usually
:func:`iqm_async.qiskit_convert.qubit_names` of the DQA: the qubits with both ``prx`` and ``measure``,
then the computational resonators, which therefore get the highest indices.

Three views of one architecture, as in IQM's adapter:

* the **qubit-only view** (``include_resonators=False``, the backend's ``target``): resonators are not
  Qiskit qubits, and every pair of qubits that can meet in a resonator (``cz(a, r)`` and
  ``move(b, r)``, or the other way round) gets a *fictional* ``cz``. Qiskit lays out, routes and
  optimises on it; the MOVE routing pass (:mod:`iqm_async.transpiler.routing`) then turns each
  fictional ``cz`` into MOVE / ``cz(qubit, resonator)`` / MOVE and appends the resonators as qubits;
* the **view with resonators** (``target_with_resonators``): the resonators, ``move``, the real
  qubit–resonator ``cz`` loci and the fictional ones, for circuits that already contain MOVEs;
* the **real target** (``get_real_target``): only what the hardware runs, no fictional loci.

On a chip without resonators all three are the same target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from qiskit.circuit import Delay, IfElseOp, Parameter, Reset  # type: ignore[import-untyped, unused-ignore]
from qiskit.circuit.library import CZGate, IGate, Measure, RGate  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler import Target  # type: ignore[import-untyped, unused-ignore]

from ..errors import CircuitTranspilationError
from ..models import DynamicQuantumArchitecture, GateInfo
from .gates import MOVE, MoveGate

__all__ = ["IQMTarget", "StarTopology", "build_target", "restrict_architecture"]

Locus = tuple[str, ...]


class IQMTarget(Target):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A Qiskit ``Target`` that remembers the IQM architecture and qubit naming it was built from.

    The MOVE routing pass reads the architecture from here, so a plain ``transpile(circuit, backend)``
    (whose scheduling stage only sees the target) can route through the resonators.
    """

    iqm_dqa: DynamicQuantumArchitecture
    iqm_component_to_idx: dict[str, int]
    iqm_idx_to_component: dict[int, str]
    iqm_include_resonators: bool
    iqm_include_fictional_czs: bool

    def __getstate__(self) -> dict[str, Any]:
        # Target pickles only its own fields; parallel transpilation pickles targets, so carry ours along.
        state: dict[str, Any] = super().__getstate__()
        state["iqm"] = (
            self.iqm_dqa,
            self.iqm_component_to_idx,
            self.iqm_include_resonators,
            self.iqm_include_fictional_czs,
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        dqa, c2i, with_resonators, fictional = state.pop("iqm")
        super().__setstate__(state)
        self._set_iqm(dqa, c2i, with_resonators, fictional)

    def _set_iqm(
        self, dqa: DynamicQuantumArchitecture, component_to_idx: dict[str, int], with_resonators: bool, fictional: bool
    ) -> None:
        self.iqm_dqa = dqa
        self.iqm_component_to_idx = dict(component_to_idx)
        self.iqm_idx_to_component = {i: c for c, i in component_to_idx.items()}
        self.iqm_include_resonators = with_resonators
        self.iqm_include_fictional_czs = fictional

    @property
    def physical_qubits(self) -> list[str]:
        """Component name of each Qiskit index of this target."""
        return [self.iqm_idx_to_component[i] for i in range(self.num_qubits or 0)]

    @property
    def component_names(self) -> list[str]:
        """Component name of every Qiskit index a routed circuit may use: qubits, then resonators."""
        return [self.iqm_idx_to_component[i] for i in range(len(self.iqm_idx_to_component))]

    def locus_to_idx(self, locus: Locus) -> tuple[int, ...]:
        """Return the Qiskit indices of a locus of component names."""
        return tuple(self.iqm_component_to_idx[c] for c in locus)

    def restrict_to_qubits(self, qubits: Sequence[int] | Sequence[str]) -> IQMTarget:
        """Return the same view of the architecture restricted to these components (indices or names), re-indexed.

        Qiskit index *i* of the new target is the *i*-th kept qubit in architecture order, then the kept
        resonators; run the result with ``qubit_index_to_name`` so it lands on the right components.
        """
        keep = [self.iqm_idx_to_component[q] if isinstance(q, int) else str(q) for q in qubits]
        unknown = [c for c in keep if c not in self.iqm_component_to_idx]
        if unknown:
            raise CircuitTranspilationError(f"Components {unknown} are not in this target")
        dqa = restrict_architecture(self.iqm_dqa, keep)
        names = list(dqa.qubits) + list(dqa.computational_resonators)
        return build_target(
            dqa,
            names,
            include_resonators=self.iqm_include_resonators,
            include_fictional_czs=self.iqm_include_fictional_czs,
        )


def restrict_architecture(dqa: DynamicQuantumArchitecture, components: Iterable[str]) -> DynamicQuantumArchitecture:
    """Return ``dqa`` with only ``components`` and the gate loci that lie entirely within them."""
    keep = set(components)
    gates: dict[str, GateInfo] = {}
    for name, info in dqa.gates.items():
        impls = {
            impl: tuple(locus for locus in loci if all(c in keep for c in locus))
            for impl, loci in info.implementations.items()
        }
        gates[name] = GateInfo(
            implementations=impls,
            default_implementation=info.default_implementation,
            override_default_implementation=dict(info.override_default_implementation),
        )
    return DynamicQuantumArchitecture(
        calibration_set_id=dqa.calibration_set_id,
        qubits=tuple(q for q in dqa.qubits if q in keep),
        computational_resonators=tuple(r for r in dqa.computational_resonators if r in keep),
        gates=gates,
    )


class StarTopology:
    """Which qubits can reach which resonator, in Qiskit indices: what MOVE routing needs to know.

    Attributes:
        num_qubits: number of Qiskit qubits (indices ``0 … num_qubits-1``); resonators follow.
        resonators: Qiskit indices of the resonators.
        move: ``(qubit, resonator)`` index pairs with a calibrated MOVE.
        cz: index pairs with a calibrated ``cz``, in both orders (qubit–qubit and qubit–resonator).
    """

    def __init__(self, dqa: DynamicQuantumArchitecture, names: Sequence[str]) -> None:
        index = {name: i for i, name in enumerate(names)}
        resonator_names = [r for r in dqa.computational_resonators if r in index]
        self.resonators: tuple[int, ...] = tuple(index[r] for r in resonator_names)
        self.num_qubits = sum(1 for n in names if n not in set(resonator_names))
        self.move: frozenset[tuple[int, int]] = frozenset(_pairs(_index_loci(dqa, MOVE, index)))
        cz = set(_pairs(_index_loci(dqa, "cz", index)))
        self.cz: frozenset[tuple[int, int]] = frozenset(cz | {(b, a) for a, b in cz})

    @property
    def has_moves(self) -> bool:
        """True when some qubit can MOVE into a resonator."""
        return bool(self.move)

    def fictional_cz(self) -> set[tuple[int, int]]:
        """Return the qubit pairs (both orders) that can meet in a resonator: ``cz(a, r)`` with ``move(b, r)``."""
        pairs: set[tuple[int, int]] = set()
        for r in self.resonators:
            gate_side = {q for q in range(self.num_qubits) if (q, r) in self.cz}
            move_side = {q for q in range(self.num_qubits) if (q, r) in self.move}
            for a in gate_side:
                for b in move_side:
                    if a != b:
                        pairs.add((a, b))
                        pairs.add((b, a))
        return pairs


def _pairs(loci: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    return [(locus[0], locus[1]) for locus in loci if len(locus) == 2]


def _index_loci(dqa: DynamicQuantumArchitecture, gate: str, index: dict[str, int]) -> list[tuple[int, ...]]:
    """Return the loci of ``gate`` in Qiskit indices, leaving out loci that touch an unnamed component."""
    info = dqa.gates.get(gate)
    if info is None:
        return []
    return [tuple(index[c] for c in locus) for locus in info.loci if all(c in index for c in locus)]


def build_target(
    dqa: DynamicQuantumArchitecture,
    names: Sequence[str],
    *,
    include_resonators: bool = False,
    include_fictional_czs: bool = True,
) -> IQMTarget:
    """Build a transpilation target of a DQA, with Qiskit index *i* meaning component ``names[i]``.

    Loci that touch a component missing from ``names`` are left out (docs/protocol.md#qubit-names step 2). On a chip
    without resonators the flags change nothing.

    Args:
        dqa: the dynamic quantum architecture of the calibration set.
        names: component name of each Qiskit index; resonators must come after every qubit.
        include_resonators: make the resonators Qiskit qubits and offer ``move`` and the real
            qubit–resonator ``cz`` loci (otherwise: the qubit-only view).
        include_fictional_czs: offer ``cz`` between qubits that can meet in a resonator.
    """
    star = StarTopology(dqa, names)
    if star.resonators and min(star.resonators) < star.num_qubits:
        raise CircuitTranspilationError("computational resonators must have higher Qiskit indices than every qubit")
    with_resonators = include_resonators and bool(star.resonators)
    size = len(names) if with_resonators else star.num_qubits
    index = {name: i for i, name in enumerate(names) if i < size}
    resonator_idx = set(star.resonators)
    qubits = [q for q in dqa.qubits if q in index]

    def loci(gate: str) -> list[tuple[int, ...]]:
        return _index_loci(dqa, gate, index)

    target = IQMTarget(num_qubits=size, description=f"IQM calibration set {dqa.calibration_set_id}")
    target._set_iqm(dqa, {name: i for i, name in enumerate(names)}, with_resonators, include_fictional_czs)
    prx = loci("prx")
    if prx:
        target.add_instruction(RGate(Parameter("θ"), Parameter("φ")), dict.fromkeys(prx))
    measure = loci("measure")
    if measure:
        target.add_instruction(Measure(), dict.fromkeys(measure))
    cz: dict[tuple[int, ...], None] = {}
    for a, b in loci("cz"):
        # CZ is symmetric and the wire accepts either order (docs/protocol.md rule 6): offer both directions, so
        # the transpiler never needs a direction-fixing pass.
        cz[(a, b)] = cz[(b, a)] = None
    if include_fictional_czs:
        cz.update(dict.fromkeys(sorted(star.fictional_cz())))
    if cz:
        target.add_instruction(CZGate(), cz)
    move = loci(MOVE)
    if move:
        target.add_instruction(MoveGate(), dict.fromkeys(move))
    # The identity is dropped on the wire; delay and reset are accepted on every qubit (docs/protocol.md rule 6).
    single = {(index[q],): None for q in qubits}
    # With resonators as Qiskit qubits, the identity on them keeps every index in the target.
    identity = {**single, **{(r,): None for r in sorted(resonator_idx) if r < size}}
    target.add_instruction(IGate(), identity)
    target.add_instruction(Delay(0), dict(single))
    target.add_instruction(Reset(), dict(single))
    if "cc_prx" in dqa.gates:
        target.add_instruction(IfElseOp, name="if_else")
    return target
