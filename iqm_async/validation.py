"""Validation of circuit jobs against a dynamic quantum architecture (docs/protocol.md#validation-rules).

One function, :func:`validate_job`, serves both sides: the client calls it before anything is
sent (raising :class:`~iqm_async.errors.CircuitValidationError`), and the embedded server calls it
on receipt with ``error=ValidationError`` so that a refusal becomes a 422. Messages name the
circuit and the instruction, say what is wrong and what would be allowed.

The module is pure (no qiskit, no httpx). Everything derived from the architecture is computed
once per DQA object in an :class:`ArchitectureIndex` (see :func:`index_for`), so validating a
batch costs a few set look-ups per instruction.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ._config import MAX_SHOTS
from .errors import CircuitValidationError, ValidationError
from .models import Circuit, CircuitJobDefinition, DynamicQuantumArchitecture, Instruction, JobParameters, parse_uuid

__all__ = [
    "check_qubit_names",
    "check_shots",
    "check_uuid",
    "duplicates",
    "KNOWN_OPERATIONS",
    "ArchitectureIndex",
    "index_for",
    "validate_job",
]

Locus = tuple[str, ...]

#: Instruction names a circuit may use (rule 2).
KNOWN_OPERATIONS: tuple[str, ...] = ("prx", "cc_prx", "cz", "move", "measure", "reset", "barrier", "delay")
_KNOWN = frozenset(KNOWN_OPERATIONS)

# Rule 3: exact arity for gates, "one or more" (None) for the rest.
_ARITY: dict[str, int | None] = {
    "prx": 1,
    "cc_prx": 1,
    "cz": 2,
    "move": 2,
    "measure": None,
    "reset": None,
    "barrier": None,
    "delay": None,
}

# Rule 4: (required args, optional args) with their kinds. "float" accepts JSON integers too
# (docs/protocol.md#operations: servers SHOULD accept them), "str" only strings.
_ARGS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "prx": ({"angle": "float", "phase": "float"}, {}),
    "cc_prx": ({"angle": "float", "phase": "float", "feedback_key": "str", "feedback_qubit": "str"}, {}),
    "measure": ({"key": "str"}, {"feedback_key": "str"}),
    "delay": ({"duration": "float"}, {}),
    "cz": ({}, {}),
    "move": ({}, {}),
    "reset": ({}, {}),
    "barrier": ({}, {}),
}

# Rule 6: gates whose exact locus must be calibrated, and the symmetric ones among them.
_LOCUS_GATES = frozenset({"prx", "cc_prx", "cz", "move"})
_SYMMETRIC = frozenset({"cz"})
# Rule 6: these run on any component, with no DQA entry needed.
_ANY_COMPONENT = frozenset({"barrier", "delay", "reset"})

_NO_ARGS = frozenset(op for op, (required, optional) in _ARGS.items() if not required and not optional)
_NO_LOCI: frozenset[Locus] = frozenset()

# How many items a message lists before it says "and N more".
_LIST_LIMIT = 6


class ArchitectureIndex:
    """Look-up sets derived once from a :class:`DynamicQuantumArchitecture` for fast validation.

    Build it with :func:`index_for`, which caches one index per DQA object.
    """

    __slots__ = (
        "component_order",
        "components",
        "dqa",
        "gate_components",
        "gate_loci",
        "impl_components",
        "impl_loci",
        "implementations",
        "qubits",
        "resonators",
    )

    def __init__(self, dqa: DynamicQuantumArchitecture):
        self.dqa = dqa
        self.qubits: frozenset[str] = frozenset(dqa.qubits)
        self.resonators: frozenset[str] = frozenset(dqa.computational_resonators)
        self.component_order: tuple[str, ...] = tuple(dqa.qubits) + tuple(dqa.computational_resonators)
        self.components: frozenset[str] = self.qubits | self.resonators
        self.implementations: dict[str, frozenset[str]] = {}
        # Loci as listed (for messages), and as accepted (both orders for symmetric gates).
        self.gate_loci: dict[str, frozenset[Locus]] = {}
        self.impl_loci: dict[tuple[str, str], frozenset[Locus]] = {}
        # Components that appear in any locus of a gate: what "measure" is checked against.
        self.gate_components: dict[str, frozenset[str]] = {}
        self.impl_components: dict[tuple[str, str], frozenset[str]] = {}
        for name, info in dqa.gates.items():
            self.implementations[name] = frozenset(info.implementations)
            all_loci: set[Locus] = set()
            all_components: set[str] = set()
            for impl, loci in info.implementations.items():
                # A locus naming an unknown component can never be valid (rule 6 checks components
                # first), so leaving it out keeps the fast and the full checks in agreement.
                accepted = {tuple(locus) for locus in loci if self.components.issuperset(locus)}
                if name in _SYMMETRIC:
                    accepted |= {locus[::-1] for locus in accepted}
                self.impl_loci[(name, impl)] = frozenset(accepted)
                comps = {c for locus in accepted for c in locus}
                self.impl_components[(name, impl)] = frozenset(comps)
                all_loci |= accepted
                all_components |= comps
            self.gate_loci[name] = frozenset(all_loci)
            self.gate_components[name] = frozenset(all_components)

    def listed_loci(self, gate: str, implementation: str | None = None) -> list[Locus]:
        """Return the loci of ``gate`` (or of one implementation) in DQA order, for messages."""
        info = self.dqa.gates.get(gate)
        if info is None:
            return []
        if implementation is not None:
            return [tuple(locus) for locus in info.implementations.get(implementation, ())]
        return list(info.loci)


_CACHE_SIZE = 16
_cache: OrderedDict[int, tuple[DynamicQuantumArchitecture, ArchitectureIndex]] = OrderedDict()
_cache_lock = threading.Lock()


def index_for(dqa: DynamicQuantumArchitecture) -> ArchitectureIndex:
    """Return the cached :class:`ArchitectureIndex` of ``dqa``, building it on first use.

    The DQA holds dicts, so it is not hashable; the cache is keyed by object identity and keeps
    the DQA alive while its entry exists, so an id can never be reused for a different object.
    """
    key = id(dqa)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is dqa:
            _cache.move_to_end(key)
            return hit[1]
    index = ArchitectureIndex(dqa)
    with _cache_lock:
        _cache[key] = (dqa, index)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return index


# --------------------------------------------------------------------------------------------------
# Message helpers
# --------------------------------------------------------------------------------------------------


def _short(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not turn a validation error into something else
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(items: Iterable[str], limit: int = _LIST_LIMIT) -> str:
    items = list(items)
    if not items:
        return "nothing"
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _pair(locus: Locus, arrow: str = "\N{EN DASH}") -> str:
    return arrow.join(locus)


def _locus_text(gate: str, locus: Locus) -> str:
    if gate == "cz":
        return _pair(locus)
    if gate == "move":
        return _pair(locus, "→")
    return ", ".join(locus)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def duplicates(names: Sequence[str]) -> list[str]:
    """Return the names that occur more than once, in first-seen order."""
    seen: set[str] = set()
    twice: list[str] = []
    for n in names:
        if n in seen and n not in twice:
            twice.append(n)
        seen.add(n)
    return twice


def check_qubit_names(qubit_names: object) -> list[str]:
    """Return a caller's physical qubit names as a list, refusing anything that could map qubits silently wrong.

    Raises:
        CircuitValidationError: ``qubit_names`` is a string (not a list of names), holds something other than
            non-empty strings, or names one component twice.
    """
    if isinstance(qubit_names, (str, bytes)) or not isinstance(qubit_names, Iterable):
        raise CircuitValidationError(
            f"qubit_names must be a list of physical qubit names such as ['QB1', 'QB2'], got {qubit_names!r}"
        )
    names = list(qubit_names)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise CircuitValidationError(f"qubit_names must hold non-empty strings, got {bad[0]!r}")
    twice = duplicates(names)
    if twice:
        raise CircuitValidationError(
            f"qubit_names names {twice} more than once; two Qiskit qubits cannot share one physical qubit."
        )
    return names


def check_uuid(value: object, what: str) -> str:
    """Return ``value`` as a canonical UUID string, or refuse it: ids go into URL paths, so ``../x`` must never pass.

    Raises:
        ValidationError: ``value`` is not a UUID (nothing is sent).
    """
    parsed = parse_uuid(value)
    if parsed is None:
        raise ValidationError(f"{value!r} is not a {what} (a UUID such as 'e3d4c5b6-…'); nothing was sent.")
    return str(parsed)


def check_shots(shots: object) -> int:
    """Return ``shots`` as an int, accepting NumPy integers; refuse bools, floats and counts outside 1..MAX_SHOTS.

    Raises:
        CircuitValidationError: ``shots`` is not a positive integer, or above :data:`MAX_SHOTS`.
    """
    if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or int(shots) <= 0:
        raise CircuitValidationError(f"shots must be a positive integer, got {shots!r}")
    if int(shots) > MAX_SHOTS:
        raise CircuitValidationError(f"shots must be at most {MAX_SHOTS}, got {shots}")
    return int(shots)


def validate_job(
    definition: CircuitJobDefinition,
    dqa: DynamicQuantumArchitecture,
    *,
    max_components: int | None = None,
    require_measurements: bool = True,
    error: type[Exception] = CircuitValidationError,
) -> None:
    """Check a circuit job against the rules of docs/protocol.md#validation-rules, raising ``error`` on the first break.

    Used by the client before a submit and by the embedded server on receipt, so the two refuse
    exactly the same jobs.

    Args:
        definition: the job: circuits plus parameters.
        dqa: the architecture the job will run on (rules 5, 6 and 9).
        max_components: refuse a circuit that touches more distinct components than this.
        require_measurements: refuse a circuit with no ``measure`` instruction.
        error: the class to raise; ``CircuitValidationError`` on the client, ``ValidationError``
            (a 422) on the server.

    Raises:
        error: the job breaks a rule; the message names the circuit and instruction.
    """
    params = definition.parameters
    if not isinstance(params, JobParameters):
        raise error(f"job parameters must be JobParameters, got {type(params).__name__}")
    params.check(error)  # rule 10
    circuits = definition.circuits
    if not isinstance(circuits, (tuple, list)) or not circuits:
        raise error("the batch must contain at least one circuit")
    index = index_for(dqa)
    mapping = _physical_mapping(params.qubit_mapping, index, error)
    move_mode = params.move_gate_validation
    multi = len(circuits) > 1
    for position, circuit in enumerate(circuits):
        _validate_circuit(
            circuit,
            position if multi else None,
            index,
            mapping,
            move_mode,
            max_components,
            require_measurements,
            error,
        )


def _physical_mapping(
    qubit_mapping: Mapping[str, str] | None, index: ArchitectureIndex, error: type[Exception]
) -> dict[str, str] | None:
    """Check ``qubit_mapping`` (logical → physical) and return it as a plain dict, or None."""
    if qubit_mapping is None:
        return None
    if not isinstance(qubit_mapping, Mapping):
        raise error(f"qubit_mapping must map logical to physical names, got {type(qubit_mapping).__name__}")
    mapping: dict[str, str] = {}
    for logical, physical in qubit_mapping.items():
        if not isinstance(logical, str) or not isinstance(physical, str):
            raise error(f"qubit_mapping entries must be strings, got {_short(logical)} → {_short(physical)}")
        if physical not in index.components:
            raise error(
                f"qubit_mapping maps {logical} to {physical}, which is not a component of this quantum computer "
                f"(it has {_listing(index.component_order)})"
            )
        mapping[logical] = physical
    if len(set(mapping.values())) != len(mapping):
        raise error("qubit_mapping maps several logical qubits to the same physical qubit")
    return mapping


def _validate_circuit(
    circuit: Circuit,
    position: int | None,
    index: ArchitectureIndex,
    mapping: dict[str, str] | None,
    move_mode: str,
    max_components: int | None,
    require_measurements: bool,
    error: type[Exception],
) -> None:
    """Apply rules 1 to 9 (and the two extra limits) to one circuit."""
    at = "" if position is None else f" (batch index {position})"
    if not isinstance(circuit, Circuit):
        raise error(f"Circuit{at}: expected a Circuit, got {type(circuit).__name__}")
    name = circuit.name
    if not isinstance(name, str) or not name:
        raise error(f"Circuit{at}: the name must be a non-empty string, got {_short(name)}")
    label = f"Circuit {name!r}{at}"
    instructions = circuit.instructions
    if not isinstance(instructions, (tuple, list)) or not instructions:
        raise error(f"{label} has no instructions")

    check_moves = move_mode != "none" and "move" in index.gate_loci
    # Rule 9 state: resonator → qubit whose state it holds, and the set of such qubits.
    occupied: dict[str, str] = {}
    moved: set[str] = set()
    sandwich_ok = {"barrier", "prx"} if move_mode == "allow_prx" else {"barrier"}

    gate_loci = index.gate_loci
    measurable = index.gate_components.get("measure", frozenset())
    components = index.components
    keys: set[str] = set()  # rule 7
    feedback: dict[str, Locus] = {}  # rule 8: feedback_key → locus of the measure that set it
    used: set[str] = set()  # components touched, for max_components
    measured = False

    def where() -> str:
        # Reads the loop variables below when called, so messages are only built on failure.
        return _where(label, number, op, locus)

    for number, inst in enumerate(instructions):
        if not isinstance(inst, Instruction):
            raise error(f"{label}, instruction {number}: expected an Instruction, got {type(inst).__name__}")
        op = inst.name
        if not isinstance(op, str) or op not in _KNOWN:  # rule 2
            raise error(
                f"{label}, instruction {number}: unknown instruction {_short(op)}; "
                f"allowed are {', '.join(KNOWN_OPERATIONS)}"
            )
        # Each rule below has a fast path for well-formed input (exact types, no messages built)
        # and falls back to the full check, which raises with a message, only when that fails.
        locus = inst.locus
        n = len(locus) if type(locus) is tuple else -1
        arity = _ARITY[op]
        if not (
            (n == 1 and type(locus[0]) is str and arity != 2)
            or (n == 2 and type(locus[0]) is str and type(locus[1]) is str and locus[0] != locus[1] and arity != 1)
        ):
            locus = _check_locus(locus, op, label, number, error)  # rule 3
        args = inst.args
        if not _args_fast(op, args):
            args = _check_args(args, op, where(), error)  # rule 4
        implementation = inst.implementation
        if implementation is not None:  # rule 5
            known = index.implementations.get(op, frozenset())
            if not isinstance(implementation, str) or implementation not in known:
                allowed = f"the calibrated ones are {_listing(sorted(known))}" if known else "use null"
                raise error(f"{where()}: implementation {_short(implementation)} is not calibrated for {op}; {allowed}")
        if mapping is None:
            physical = locus
        else:
            try:
                physical = tuple(mapping[c] for c in locus)
            except KeyError as exc:
                raise error(f"{where()}: {exc.args[0]} is not in qubit_mapping") from None
        # rule 6
        if implementation is not None or not (
            (physical in gate_loci.get(op, _NO_LOCI))
            if op in _LOCUS_GATES
            else measurable.issuperset(physical)
            if op == "measure"
            else components.issuperset(physical)
        ):
            _check_placement(op, physical, implementation, index, where(), error)

        if op == "measure":
            measured = True
            key = args["key"]
            if key in keys:  # rule 7
                raise error(f"{where()}: measurement key {key!r} is already used in this circuit; keys must be unique")
            keys.add(key)
            feedback_key = args.get("feedback_key")
            if feedback_key is not None:
                feedback[feedback_key] = locus
        elif op == "cc_prx":  # rule 8
            feedback_key = args["feedback_key"]
            source = feedback.get(feedback_key)
            if source is None:
                raise error(
                    f"{where()}: feedback_key {feedback_key!r} does not name an earlier measure with that "
                    f"feedback_key in this circuit"
                )
            if args["feedback_qubit"] not in source:
                raise error(
                    f"{where()}: feedback_qubit {args['feedback_qubit']!r} is not the qubit measured for "
                    f"{feedback_key!r} ({', '.join(source)})"
                )

        if check_moves:  # rule 9
            if op == "move":
                qubit, resonator = physical
                if qubit not in index.qubits or resonator not in index.resonators:
                    raise error(f"{where()}: a MOVE must go from a qubit to a computational resonator")
                holder = occupied.get(resonator)
                if holder is None:
                    if qubit in moved:
                        raise error(f"{where()}: the state of {qubit} is already in another resonator")
                    occupied[resonator] = qubit
                    moved.add(qubit)
                elif holder != qubit:
                    raise error(f"{where()}: {resonator} already holds the state of {holder}; move it back out first")
                else:
                    del occupied[resonator]
                    moved.discard(qubit)
            elif moved and op not in sandwich_ok:
                overlap = moved.intersection(physical)
                if overlap:
                    allowed = "barrier and prx" if move_mode == "allow_prx" else "only barrier"
                    raise error(
                        f"{where()}: the state of {', '.join(sorted(overlap))} is in a resonator; until it is "
                        f"moved back, {allowed} may act on that qubit"
                    )
        if max_components is not None:
            used.update(physical)

    if occupied:
        still = ", ".join(f"{q} in {r}" for r, q in occupied.items())
        raise error(f"{label} ends while a qubit state is still in a resonator ({still}); close every MOVE pair")
    if require_measurements and not measured:
        raise error(
            f"{label} has no measurements, so it would return nothing; add them, for example with "
            "circuit.measure_all() (or circuit.measure(qubits, clbits))"
        )
    if max_components is not None and len(used) > max_components:
        raise error(f"{label} uses {len(used)} components; at most {max_components} are allowed")


def _where(label: str, number: int, op: str, locus: Locus) -> str:
    """Return the message prefix naming one instruction."""
    return f"{label}, instruction {number} ({op} on {', '.join(locus)})"


def _args_fast(op: str, args: object) -> bool:
    """Return True when ``args`` is obviously valid for ``op`` (the common, exactly typed case)."""
    if type(args) is not dict:
        return False
    if op == "prx":
        if len(args) != 2:
            return False
        angle = args.get("angle")
        phase = args.get("phase")
        # x - x == 0 holds for every finite float and fails for inf and nan.
        return type(angle) is float and type(phase) is float and angle - angle == 0 and phase - phase == 0
    if op == "measure":
        return len(args) == 1 and type(args.get("key")) is str
    if op in _NO_ARGS:
        return not args
    return False


def _check_locus(locus: object, op: str, label: str, number: int, error: type[Exception]) -> Locus:
    """Rule 3: the locus is a sequence of distinct strings of the operation's arity."""
    if not isinstance(locus, (tuple, list)) or not all(isinstance(c, str) for c in locus):
        raise error(f"{label}, instruction {number} ({op}): the locus must be a list of component names")
    where = f"{label}, instruction {number} ({op} on {', '.join(locus)})"
    arity = _ARITY[op]
    if arity is None:
        if not locus:
            raise error(f"{where}: {op} needs at least one component")
    elif len(locus) != arity:
        raise error(f"{where}: {op} takes exactly {arity} component{'s' if arity > 1 else ''}, got {len(locus)}")
    if len(set(locus)) != len(locus):
        raise error(f"{where}: a component appears more than once in the locus")
    return tuple(locus)


def _check_args(args: object, op: str, where: str, error: type[Exception]) -> Mapping[str, Any]:
    """Rule 4: exactly the required arguments plus allowed optional ones, each of the right type."""
    if not isinstance(args, Mapping):
        raise error(f"{where}: args must be an object, got {type(args).__name__}")
    required, optional = _ARGS[op]
    for arg, kind in required.items():
        if arg not in args:
            raise error(f"{where}: missing argument {arg!r}; {op} takes {_arg_list(op)}")
        _check_arg_value(args[arg], arg, kind, op, where, error)
    extra = [k for k in args if k not in required]
    for arg in extra:
        kind_opt = optional.get(arg) if isinstance(arg, str) else None
        if kind_opt is None:
            raise error(f"{where}: unexpected argument {_short(arg)}; {op} takes {_arg_list(op)}")
        _check_arg_value(args[arg], arg, kind_opt, op, where, error)
    return args


def _arg_list(op: str) -> str:
    required, optional = _ARGS[op]
    names = list(required) + [f"{k} (optional)" for k in optional]
    return "no arguments" if not names else ", ".join(names)


def _check_arg_value(value: object, arg: str, kind: str, op: str, where: str, error: type[Exception]) -> None:
    if kind == "str":
        if not isinstance(value, str):
            raise error(f"{where}: argument {arg!r} must be a string, got {_short(value)}")
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise error(f"{where}: argument {arg!r} must be a finite number, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{where}: argument {arg!r} must be a number, got {_short(value)}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise error(f"{where}: argument {arg!r} must be a finite number, got {value!r}")
    if op == "delay" and value < 0:
        raise error(f"{where}: argument 'duration' must be a non-negative number of seconds, got {value!r}")


def _check_placement(
    op: str,
    locus: Locus,
    implementation: str | None,
    index: ArchitectureIndex,
    where: str,
    error: type[Exception],
) -> None:
    """Rule 6: the (physical) locus exists and, for calibrated gates, is calibrated."""
    components = index.components
    for c in locus:
        if c not in components:
            raise error(
                f"{where}: {c} is not a component of this quantum computer; it has {_listing(index.component_order)}"
            )
    if op in _ANY_COMPONENT:
        return
    if op not in index.gate_loci:
        raise error(
            f"{where}: {op} is not calibrated on this quantum computer; calibrated gates are "
            f"{_listing(sorted(index.gate_loci))}"
        )
    if op == "measure":
        allowed = index.gate_components[op] if implementation is None else index.impl_components[(op, implementation)]
        for c in locus:
            if c not in allowed:
                raise error(
                    f"{where}: {c} cannot be measured; measure is calibrated on {_listing(_ordered(allowed, index))}"
                )
        return
    # Remaining gates (_LOCUS_GATES): the exact locus must be calibrated.
    accepted = index.gate_loci[op] if implementation is None else index.impl_loci[(op, implementation)]
    if locus in accepted:
        return
    # Loci that share a component with the refused one are the likely intended ones: list them first.
    loci = index.listed_loci(op, implementation)
    near = [lc for lc in loci if not set(lc).isdisjoint(locus)]
    listed = [_locus_text(op, lc) for lc in near + [lc for lc in loci if set(lc).isdisjoint(locus)]]
    gate = op if implementation is None else f"{op} ({implementation})"
    text = _locus_text(op, locus)
    if op == "cz":
        problem = f"{text} is not a coupled pair"
    elif op == "move":
        problem = f"{text} is not a calibrated MOVE locus"
    else:
        problem = f"{gate} is not calibrated on {text}"
    raise error(f"{where}: {problem}; {gate} is calibrated on {_listing(listed)}")


def _ordered(components: Collection[str], index: ArchitectureIndex) -> list[str]:
    """Return the given components in DQA order, for messages."""
    return [c for c in index.component_order if c in components]
