"""Server-side circuit validation on submit (docs/protocol.md#validation-rules), giving ``422 validation_error``.

:func:`validate` is the single place where the server validates a job. It calls the shared
``iqm_async.validation.validate_job`` when that module is present, so client and server apply the same
rules; otherwise it applies :func:`fallback_validate`, a subset that covers everything the executor
relies on (rules 1–8 and 10, without the MOVE sandwich rule 9).
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import ValidationError
from ..models import Circuit, CircuitJobDefinition, DynamicQuantumArchitecture, Instruction

__all__ = [
    "KNOWN_INSTRUCTIONS",
    "apply_qubit_mapping",
    "check_active_width",
    "entangled_groups",
    "fallback_validate",
    "shared_validator",
    "validate",
]

KNOWN_INSTRUCTIONS: frozenset[str] = frozenset({"prx", "cc_prx", "cz", "move", "measure", "reset", "barrier", "delay"})
_GATES_WITH_LOCI = frozenset({"prx", "cc_prx", "cz", "move"})
_NO_OP = frozenset({"barrier", "delay"})
_ARITY: dict[str, tuple[int, int | None]] = {
    "prx": (1, 1),
    "cc_prx": (1, 1),
    "cz": (2, 2),
    "move": (2, 2),
    "measure": (1, None),
    "reset": (1, None),
    "barrier": (1, None),
    "delay": (1, None),
}
_FLOAT, _STR = "float", "str"
_ARGS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    # name: (required, optional)
    "prx": ({"angle": _FLOAT, "phase": _FLOAT}, {}),
    "cc_prx": ({"angle": _FLOAT, "phase": _FLOAT, "feedback_key": _STR, "feedback_qubit": _STR}, {}),
    "measure": ({"key": _STR}, {"feedback_key": _STR}),
    "delay": ({"duration": _FLOAT}, {}),
}

Validator = Callable[..., None]
_shared: list[Validator | None] = []


def shared_validator() -> Validator | None:
    """Return ``iqm_async.validation.validate_job`` if that module exists, else None (looked up once)."""
    if not _shared:
        try:
            module = importlib.import_module("iqm_async.validation")
        except ImportError:
            _shared.append(None)
        else:
            found = getattr(module, "validate_job", None)
            _shared.append(found if callable(found) else None)
    return _shared[0]


def validate(
    definition: CircuitJobDefinition, dqa: DynamicQuantumArchitecture, max_components: int
) -> CircuitJobDefinition:
    """Raise :class:`~iqm_async.errors.ValidationError` when the job breaks a docs/protocol.md#validation-rules rule.

    Returns:
        The definition with physical component names (``qubit_mapping`` applied), ready to execute.
    """
    shared = shared_validator()
    if shared is None:
        physical = apply_qubit_mapping(definition)
        fallback_validate(physical, dqa, None)
    else:
        # A circuit without measurements is valid on the wire (its results are empty, docs/protocol.md#edge-cases).
        extra = {"require_measurements": False} if _accepts(shared, "require_measurements") else {}
        # The simulator's limit is the width of each entangled group, not the number of components touched.
        shared(definition, dqa, max_components=None, error=ValidationError, **extra)
        physical = apply_qubit_mapping(definition)
    check_active_width(physical, max_components)
    return physical


def entangled_groups(circuit: Circuit) -> list[tuple[str, ...]]:
    """Split the components a circuit touches into groups that never interact, largest first.

    Two components share a group when a two-qubit gate (``cz``, ``move``) acts on both, or when a
    ``cc_prx`` on one is conditioned on a measurement of the other. Groups evolve independently, so
    the executor may simulate them one at a time.
    """
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        parent.setdefault(c, c)
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for inst in circuit.instructions:
        if inst.name in _NO_OP:
            continue
        for comp in inst.locus:
            find(comp)
        if inst.name in ("cz", "move"):
            union(inst.locus[0], inst.locus[1])
        elif inst.name == "cc_prx" and isinstance(inst.args.get("feedback_qubit"), str):
            union(inst.locus[0], inst.args["feedback_qubit"])
    groups: dict[str, list[str]] = {}
    for comp in parent:
        groups.setdefault(find(comp), []).append(comp)
    return sorted((tuple(g) for g in groups.values()), key=len, reverse=True)


def check_active_width(definition: CircuitJobDefinition, max_components: int | None) -> None:
    """Refuse a circuit whose largest entangled group is wider than the simulator handles (``max_components``)."""
    if max_components is None:
        return
    for circuit in definition.circuits:
        groups = entangled_groups(circuit)
        if groups and len(groups[0]) > max_components:
            shown = ", ".join(groups[0][:6]) + (", …" if len(groups[0]) > 6 else "")
            raise ValidationError(
                f"circuit {circuit.name!r} entangles {len(groups[0])} components ({shown}); the simulator "
                f"simulates at most {max_components} interacting components at once"
            )


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def apply_qubit_mapping(definition: CircuitJobDefinition) -> CircuitJobDefinition:
    """Rewrite logical component names to physical ones when the job carries a ``qubit_mapping``."""
    mapping = definition.parameters.qubit_mapping
    if mapping is None:
        return definition
    physical = list(mapping.values())
    if len(set(physical)) != len(physical):
        raise ValidationError("qubit_mapping maps two logical names to the same physical component")

    def name(logical: str, where: str) -> str:
        try:
            return mapping[logical]
        except KeyError:
            raise ValidationError(f"{where}: component {logical!r} is not in qubit_mapping") from None

    circuits = []
    for c in definition.circuits:
        instructions = []
        for n, inst in enumerate(c.instructions):
            where = f"circuit {c.name!r}, instruction {n}"
            args = dict(inst.args)
            if inst.name == "cc_prx" and isinstance(args.get("feedback_qubit"), str):
                args["feedback_qubit"] = name(args["feedback_qubit"], where)
            instructions.append(replace(inst, locus=tuple(name(q, where) for q in inst.locus), args=args))
        circuits.append(replace(c, instructions=tuple(instructions)))
    return replace(definition, circuits=tuple(circuits), parameters=replace(definition.parameters, qubit_mapping=None))


def _is_float(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def fallback_validate(
    definition: CircuitJobDefinition, dqa: DynamicQuantumArchitecture, max_components: int | None
) -> None:
    """Check the rules the executor depends on; used only while the shared validator is absent."""
    definition.parameters.check(ValidationError)
    if not definition.circuits:
        raise ValidationError("the batch must contain at least one circuit")
    components = frozenset(dqa.components)
    loci: dict[str, frozenset[tuple[str, ...]]] = {
        name: frozenset(gate.loci) for name, gate in dqa.gates.items() if name in _GATES_WITH_LOCI
    }
    measurable = frozenset(c for locus in dqa.gates["measure"].loci for c in locus) if "measure" in dqa.gates else ()
    for circuit in definition.circuits:
        _check_circuit(circuit, dqa, components, loci, measurable, max_components)


def _check_circuit(
    circuit: Circuit,
    dqa: DynamicQuantumArchitecture,
    components: frozenset[str],
    loci: dict[str, frozenset[tuple[str, ...]]],
    measurable: frozenset[str] | tuple[()],
    max_components: int | None,
) -> None:
    if not circuit.name:
        raise ValidationError("every circuit needs a non-empty name")
    if not circuit.instructions:
        raise ValidationError(f"circuit {circuit.name!r} has no instructions")
    keys: set[str] = set()
    feedback: set[tuple[str, str]] = set()
    used: set[str] = set()
    for n, inst in enumerate(circuit.instructions):
        where = f"circuit {circuit.name!r}, instruction {n} ({inst.name})"
        _check_instruction(inst, where, dqa, components, loci, measurable)
        if inst.name not in _NO_OP:
            used.update(inst.locus)
        if inst.name == "measure":
            key = inst.args["key"]
            if key in keys:
                raise ValidationError(f"{where}: measurement key {key!r} is used twice")
            keys.add(key)
            fk = inst.args.get("feedback_key")
            if fk is not None:
                feedback.update((fk, q) for q in inst.locus)
        elif inst.name == "cc_prx":
            pair = (inst.args["feedback_key"], inst.args["feedback_qubit"])
            if pair not in feedback:
                raise ValidationError(
                    f"{where}: feedback_key {pair[0]!r} does not name an earlier measurement of {pair[1]!r}"
                )
    if max_components is not None and len(used) > max_components:
        raise ValidationError(
            f"circuit {circuit.name!r} uses {len(used)} components; the simulator accepts at most {max_components}"
        )


def _check_instruction(
    inst: Instruction,
    where: str,
    dqa: DynamicQuantumArchitecture,
    components: frozenset[str],
    loci: dict[str, frozenset[tuple[str, ...]]],
    measurable: frozenset[str] | tuple[()],
) -> None:
    if inst.name not in KNOWN_INSTRUCTIONS:
        raise ValidationError(f"{where}: unknown instruction {inst.name!r}")
    low, high = _ARITY[inst.name]
    if len(inst.locus) < low or (high is not None and len(inst.locus) > high):
        raise ValidationError(f"{where}: wrong number of components {list(inst.locus)}")
    if len(set(inst.locus)) != len(inst.locus):
        raise ValidationError(f"{where}: a component repeats in the locus {list(inst.locus)}")
    for comp in inst.locus:
        if comp not in components:
            raise ValidationError(f"{where}: component {comp!r} is not on the chip")
    required, optional = _ARGS.get(inst.name, ({}, {}))
    missing = set(required) - set(inst.args)
    extra = set(inst.args) - set(required) - set(optional)
    if missing or extra:
        raise ValidationError(f"{where}: expected arguments {sorted(required)}, got {sorted(inst.args)}")
    for arg, kind in {**required, **optional}.items():
        if arg in inst.args:
            ok = _is_float(inst.args[arg]) if kind == _FLOAT else isinstance(inst.args[arg], str)
            if not ok:
                raise ValidationError(f"{where}: argument {arg!r} must be a {kind}, got {inst.args[arg]!r}")
    gate = dqa.gates.get(inst.name)
    if inst.implementation is not None and (gate is None or inst.implementation not in gate.implementations):
        raise ValidationError(f"{where}: unknown implementation {inst.implementation!r}")
    if inst.name in _GATES_WITH_LOCI:
        allowed = loci.get(inst.name, frozenset())
        locus = tuple(inst.locus)
        if locus not in allowed and not (inst.name == "cz" and locus[::-1] in allowed):
            raise ValidationError(f"{where}: locus {list(locus)} is not calibrated for {inst.name!r}")
    elif inst.name == "measure":
        for comp in inst.locus:
            if comp not in measurable:
                raise ValidationError(f"{where}: component {comp!r} cannot be measured")
