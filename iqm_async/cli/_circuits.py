"""Circuits from files for ``iqm-async submit``: OpenQASM 2, OpenQASM 3 and QPY, transpiled for the target."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from ..models import DynamicQuantumArchitecture

__all__ = ["load_circuits", "transpile_for"]

_QASM3_HINT = "OpenQASM 3 files need the qiskit_qasm3_import package: pip install 'iqm-async[cli]'"


def load_circuits(paths: Sequence[str | os.PathLike[str]]) -> list[QuantumCircuit]:
    """Read every circuit of every file, in order; the format is told by content (QPY header, ``OPENQASM`` line).

    Raises:
        ValueError: for a file that is none of the supported formats, or does not parse.
    """
    circuits: list[QuantumCircuit] = []
    for path in paths:
        circuits.extend(_load_one(Path(os.fspath(path))))
    return circuits


def _load_one(path: Path) -> list[QuantumCircuit]:
    data = path.read_bytes()
    name = path.name.rsplit(".", 1)[0] or "circuit"
    if data.startswith(b"QISKIT"):
        from qiskit import qpy

        with path.open("rb") as f:
            loaded = qpy.load(f)
        return [c for c in loaded if _is_circuit(c)] or _not_circuits(path)
    text = data.decode("utf-8", errors="replace")
    version = _qasm_version(text)
    if version is None:
        raise ValueError(f"{path}: not an OpenQASM 2/3 or QPY file (no 'OPENQASM' header, no QPY magic)")
    try:
        if version.startswith("2"):
            from qiskit import qasm2

            circuit = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
        else:
            from qiskit import qasm3

            try:
                circuit = qasm3.loads(text)
            except qasm3.QASM3ImporterError as exc:
                if "qiskit_qasm3_import" in str(exc):
                    raise ValueError(f"{path}: {_QASM3_HINT}") from None
                raise
    except ValueError:
        raise
    except Exception as exc:  # the parsers raise their own error classes
        raise ValueError(f"{path}: cannot parse OpenQASM {version}: {exc}") from None
    circuit.name = name
    return [circuit]


def _qasm_version(text: str) -> str | None:
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.startswith("OPENQASM"):
            return line[len("OPENQASM") :].strip().rstrip(";").strip()
        return None
    return None


def _is_circuit(value: Any) -> bool:
    from qiskit import QuantumCircuit

    return isinstance(value, QuantumCircuit)


def _not_circuits(path: Path) -> list[QuantumCircuit]:
    raise ValueError(f"{path}: the QPY file holds no circuits")


def transpile_for(
    circuits: Sequence[QuantumCircuit], dqa: DynamicQuantumArchitecture, names: Sequence[str], *, seed: int | None
) -> tuple[list[QuantumCircuit], list[str] | None]:
    """Transpile circuits to the calibration set's native gates and couplings (qubit index *i* = ``names[i]``).

    Returns the circuits and, for a chip with computational resonators, the component names their
    qubit indices stand for (None: ``names``). On such a chip two-qubit gates are routed through the
    resonators with MOVEs, as the Qiskit facade's ``transpile_to_IQM`` does.

    Raises:
        ValueError: a circuit does not fit the chip.
    """
    if dqa.computational_resonators:
        return _transpile_star(circuits, dqa, names, seed=seed)
    from qiskit import transpile
    from qiskit.circuit import Delay, Measure, Parameter, Reset
    from qiskit.circuit.library import CZGate, IGate, RGate
    from qiskit.transpiler import Target

    index = {name: i for i, name in enumerate(names)}

    def loci(gate: str) -> list[tuple[int, ...]]:
        info = dqa.gates.get(gate)
        if info is None:
            return []
        return [tuple(index[c] for c in locus) for locus in info.loci if all(c in index for c in locus)]

    # The native gate set (docs/protocol.md, "The wire circuit format"): prx as Qiskit's r, symmetric cz, measure.
    target = Target(num_qubits=len(names))
    target.add_instruction(RGate(Parameter("θ"), Parameter("φ")), dict.fromkeys(loci("prx")))
    target.add_instruction(Measure(), dict.fromkeys(loci("measure")))
    cz: dict[tuple[int, ...], None] = {}
    for a, b in loci("cz"):
        cz[(a, b)] = cz[(b, a)] = None
    if cz:
        target.add_instruction(CZGate(), cz)
    single = {(i,): None for i in range(len(names))}
    for gate in (IGate(), Delay(0), Reset()):
        target.add_instruction(gate, dict(single))
    try:
        out = transpile(list(circuits), target=target, optimization_level=1, seed_transpiler=seed)
    except Exception as exc:  # qiskit raises TranspilerError and friends
        raise ValueError(f"cannot transpile for this quantum computer: {exc}") from None
    return list(out), None


def _transpile_star(
    circuits: Sequence[QuantumCircuit], dqa: DynamicQuantumArchitecture, names: Sequence[str], *, seed: int | None
) -> tuple[list[QuantumCircuit], list[str]]:
    """Transpile for a star chip: MOVE routing through the resonators, with the core's IQM transpiler."""
    import types

    from ..transpiler.target import build_target
    from ..transpiler.transpile import target_with_resonators, transpile_to_IQM

    target = build_target(dqa, names)
    backend = types.SimpleNamespace(target=target)  # transpile_to_IQM needs only the backend's target
    try:
        out = [transpile_to_IQM(circuit, backend, seed_transpiler=seed) for circuit in circuits]
    except Exception as exc:  # qiskit raises TranspilerError and friends
        raise ValueError(f"cannot transpile for this quantum computer: {exc}") from None
    return out, list(target_with_resonators(target).component_names)
