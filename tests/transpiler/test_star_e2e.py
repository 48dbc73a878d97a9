"""Star chips end to end: transpile, run on the embedded server, and compare the counts with the ideal distribution.

Each test transpiles with the facade (``transpile(circuit, backend)`` or ``transpile_to_IQM``), runs on a
6+1 or 16+1 star served by the embedded server (seeded), and requires a chi-squared p-value above
``P_MIN`` against Qiskit's ``Statevector`` probabilities of the untranspiled circuit.
"""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from iqm_sync_shim import ExistingMoveHandlingOptions, IQMBackend, transpile_to_IQM

from .star import P_MIN, chi_squared_p, ghz, ideal, measured, qft, rand, with_moves

SHOTS = 8000


def run_and_test(backend: IQMBackend, circuit: QuantumCircuit, routed: QuantumCircuit, n: int) -> float:
    counts = backend.run(routed, shots=SHOTS).result().get_counts()
    p = chi_squared_p(counts, ideal(circuit, n))
    chip = f"{backend.num_qubits}+1" if backend.has_resonators() else f"{backend.num_qubits}-qubit crystal"
    print(f"{circuit.name} on {chip}: p = {p:.3g}, MOVEs {routed.count_ops().get('move', 0)}")
    assert p > P_MIN, (counts, ideal(circuit, n))
    return p


CASES = [("ghz", 6), ("qft", 5), ("rand", 5), ("rand", 6)]
CASES16 = [("ghz", 16), ("qft", 8), ("rand", 8), ("rand", 10)]


def family(kind: str, n: int, seed: int) -> QuantumCircuit:
    if kind == "ghz":
        return ghz(n)
    if kind == "qft":
        return qft(n, seed)
    return rand(n, 10, seed)


@pytest.mark.parametrize(("kind", "n"), CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_plain_transpile_on_the_6_plus_1_star(star6: IQMBackend, kind: str, n: int, seed: int) -> None:
    circuit = family(kind, n, seed)
    routed = transpile(measured(circuit), star6, seed_transpiler=seed)
    assert routed.count_ops().get("move", 0) >= 2
    run_and_test(star6, circuit, routed, n)


@pytest.mark.parametrize(("kind", "n"), CASES16)
def test_plain_transpile_on_the_16_plus_1_star(star16: IQMBackend, kind: str, n: int) -> None:
    circuit = family(kind, n, 3)
    routed = transpile(measured(circuit), star16, seed_transpiler=3)
    assert routed.num_qubits == 17
    run_and_test(star16, circuit, routed, n)


@pytest.mark.parametrize("handling", list(ExistingMoveHandlingOptions))
@pytest.mark.parametrize("seed", [4, 5])
def test_transpile_to_IQM_with_existing_moves(
    star6: IQMBackend, handling: ExistingMoveHandlingOptions, seed: int
) -> None:
    circuit = with_moves(5, 8, seed)
    routed = transpile_to_IQM(measured(circuit, 5), star6, existing_moves_handling=handling, seed_transpiler=seed)
    run_and_test(star6, circuit, routed, 5)


@pytest.mark.parametrize("handling", list(ExistingMoveHandlingOptions))
def test_transpile_to_IQM_random_circuits_on_16(star16: IQMBackend, handling: ExistingMoveHandlingOptions) -> None:
    circuit = rand(9, 12, 6)
    routed = transpile_to_IQM(measured(circuit), star16, existing_moves_handling=handling, seed_transpiler=6)
    run_and_test(star16, circuit, routed, 9)


def test_preset_pass_manager_of_the_backend_routes(star6: IQMBackend) -> None:
    circuit = rand(6, 8, 9)
    pm = generate_preset_pass_manager(optimization_level=3, backend=star6, seed_transpiler=9)
    run_and_test(star6, circuit, pm.run(measured(circuit)), 6)


def test_IQM_scheduling_names_work_with_our_backend(star6: IQMBackend) -> None:
    assert star6.get_scheduling_stage_plugin() == "iqm_async_default_scheduling"
    circuit = qft(4, 7)
    routed = transpile(measured(circuit), star6, scheduling_method="move_routing_drop_final_rzs", seed_transpiler=7)
    run_and_test(star6, circuit, routed, 4)


def test_crystal_chips_transpile_as_before(crystal: IQMBackend) -> None:
    circuit = rand(6, 8, 10)
    # Our scheduling stage is empty without MOVEs, so the rest is Qiskit's preset pipeline as before.
    stage = generate_preset_pass_manager(optimization_level=2, backend=crystal).scheduling
    assert stage is not None and not stage.to_flow_controller().tasks
    ours = transpile(measured(circuit), crystal, seed_transpiler=10)
    assert "move" not in ours.count_ops() and ours.num_qubits == 20
    assert not crystal.has_resonators()
    with pytest.raises(ValueError, match="does not have computational resonators"):
        crystal.target_with_resonators  # noqa: B018
    run_and_test(crystal, circuit, ours, 6)
