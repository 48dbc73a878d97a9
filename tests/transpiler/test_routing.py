"""MOVE routing and single-qubit optimisation without a server: exact equivalence and the server's MOVE rules."""

from __future__ import annotations

import pickle
import warnings

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.quantum_info import Operator
from qiskit.transpiler import TranspilerError
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit.transpiler.preset_passmanagers.plugin import list_stage_plugins

from iqm_async.errors import CircuitTranspilationError
from iqm_async.transpiler import (
    DEFAULT_PLUGIN,
    ExistingMoveHandlingOptions,
    IQMCircuit,
    build_target,
    optimize_single_qubit_gates,
    transpile_to_IQM,
)
from iqm_async.transpiler.plugins import SCHEDULING_PLUGINS

from .star import ghz, ideal, qft, rand, routed_distribution, stand_in, wire_valid, with_moves

STAR6 = stand_in(6)
STAR16 = stand_in(16)


def assert_same_distribution(original: QuantumCircuit, routed: QuantumCircuit, n: int) -> None:
    want, got = ideal(original, n), routed_distribution(routed, n)
    assert max(abs(want.get(k, 0.0) - got.get(k, 0.0)) for k in set(want) | set(got)) < 1e-9


def test_star_target_is_the_qubit_only_view() -> None:
    target = STAR6.target
    assert target.num_qubits == 6 and "move" not in target.operation_names
    assert set(target["cz"]) == {(a, b) for a in range(6) for b in range(6) if a != b}
    assert set(target["measure"]) == {(q,) for q in range(6)}
    pickled = pickle.loads(pickle.dumps(target))
    assert pickled.iqm_dqa == target.iqm_dqa and set(pickled["cz"]) == set(target["cz"])


def test_crystal_target_is_unchanged_by_the_star_view() -> None:
    grid = stand_in(20, "square")
    dqa, target = grid.architecture, grid.target
    pairs = {tuple(int(q[2:]) - 1 for q in locus) for locus in dqa.gates["cz"].loci}
    assert set(target["cz"]) == pairs | {(b, a) for a, b in pairs}
    assert "move" not in target.operation_names and target.num_qubits == 20
    # On crystal chips the default scheduling stage adds nothing to Qiskit's pipeline.
    stage = generate_preset_pass_manager(optimization_level=2, target=target, scheduling_method=DEFAULT_PLUGIN)
    assert stage.scheduling is not None and not stage.scheduling.to_flow_controller().tasks


@pytest.mark.parametrize("backend", [STAR6, STAR16], ids=["6+1", "16+1"])
@pytest.mark.parametrize("seed", range(12))
def test_random_circuits_route_exactly_and_validate(backend: object, seed: int) -> None:
    n = 5 if seed % 2 else 6
    qc = rand(n, 8, seed)
    routed = transpile(qc, target=backend.target, seed_transpiler=seed, scheduling_method=DEFAULT_PLUGIN)  # type: ignore[attr-defined]
    wire_valid(routed, backend.architecture)  # type: ignore[attr-defined]
    assert_same_distribution(qc, routed, n)
    if qc.num_nonlocal_gates():
        assert routed.count_ops().get("move", 0) >= 2


@pytest.mark.parametrize("circuit", [ghz(6), qft(5, 1)], ids=["ghz6", "qft5"])
def test_transpile_to_IQM_routes_and_keeps_the_distribution(circuit: QuantumCircuit) -> None:
    routed = transpile_to_IQM(circuit, STAR6, seed_transpiler=1)
    wire_valid(routed, STAR6.architecture)
    assert_same_distribution(circuit, routed, circuit.num_qubits)
    assert routed.num_qubits == 7 and routed.layout is not None


def test_a_star_ghz_needs_one_park() -> None:
    qc = QuantumCircuit(6)
    qc.h(0)
    for i in range(1, 6):
        qc.cx(0, i)
    routed = transpile_to_IQM(qc, STAR6, seed_transpiler=1)
    assert routed.count_ops()["move"] == 2 and routed.count_ops()["cz"] == 5


@pytest.mark.parametrize("handling", list(ExistingMoveHandlingOptions))
@pytest.mark.parametrize("seed", range(6))
def test_circuits_with_moves_for_each_handling(handling: ExistingMoveHandlingOptions, seed: int) -> None:
    qc = with_moves(5, 6, seed)
    routed = transpile_to_IQM(qc, STAR6, existing_moves_handling=handling, seed_transpiler=seed)
    wire_valid(routed, STAR6.architecture)
    assert_same_distribution(qc, routed, 5)


def test_keep_refuses_broken_moves_and_trust_repairs_them() -> None:
    qc = IQMCircuit(4)
    qc.h(0)
    qc.move(0, 3)
    qc.x(0)  # a gate on a qubit whose state is in the resonator
    qc.cz(1, 3)
    qc.move(0, 3)
    with pytest.raises(CircuitTranspilationError, match="IQM's rules") as caught:
        transpile_to_IQM(qc, STAR6, existing_moves_handling=ExistingMoveHandlingOptions.KEEP, optimization_level=0)
    assert isinstance(caught.value, TranspilerError)  # Qiskit's error too
    for handling in ("trust", "remove"):
        routed = transpile_to_IQM(qc, STAR6, existing_moves_handling=handling, optimization_level=0)
        wire_valid(routed, STAR6.architecture)


def test_moves_need_a_handling_choice() -> None:
    with pytest.raises(ValueError, match="existing_moves_handling is not set"):
        transpile_to_IQM(with_moves(5, 3, 0), STAR6)


def test_high_optimization_level_with_moves_warns_and_is_capped() -> None:
    with pytest.warns(UserWarning, match="optimization_level=3"):
        routed = transpile_to_IQM(with_moves(5, 4, 1), STAR6, existing_moves_handling="keep", optimization_level=3)
    wire_valid(routed, STAR6.architecture)


def test_restrict_to_qubits_reindexes() -> None:
    qc = ghz(3)
    routed = transpile_to_IQM(qc, STAR6, restrict_to_qubits=["QB2", "QB4", "QB5", "COMP_R"], seed_transpiler=1)
    assert routed.num_qubits == 4  # three qubits, then the resonator
    assert_same_distribution(qc, routed, 3)


def test_without_routing_the_fictional_czs_stay() -> None:
    routed = transpile_to_IQM(ghz(4), STAR6, perform_move_routing=False, seed_transpiler=1)
    assert "move" not in routed.count_ops() and routed.num_qubits == 6


def test_explicit_scheduling_method_warns_like_IQM() -> None:
    with pytest.warns(UserWarning, match="Scheduling method is set to only_rz_optimization"):
        routed = transpile_to_IQM(ghz(3), STAR6, scheduling_method="only_rz_optimization")
    assert "move" not in routed.count_ops()


def test_every_IQM_plugin_name_is_registered() -> None:
    names = set(list_stage_plugins("scheduling"))
    assert set(SCHEDULING_PLUGINS) | {DEFAULT_PLUGIN} <= names


def test_preset_pass_manager_with_IQM_plugin_name_routes() -> None:
    pm = generate_preset_pass_manager(
        optimization_level=1, target=STAR6.target, scheduling_method="move_routing_remove", seed_transpiler=2
    )
    qc = rand(5, 6, 3)
    routed = pm.run(qc)
    wire_valid(routed, STAR6.architecture)
    assert_same_distribution(qc, routed, 5)


@pytest.mark.parametrize("seed", range(5))
def test_single_qubit_optimisation_keeps_the_unitary(seed: int) -> None:
    line = stand_in(5, "line")
    qc = transpile(rand(4, 6, seed), target=line.target, seed_transpiler=seed, optimization_level=1)
    optimised = optimize_single_qubit_gates(qc)
    assert Operator(optimised).equiv(Operator(qc))
    assert optimised.count_ops().get("r", 0) <= qc.count_ops().get("r", 0)
    dropped = optimize_single_qubit_gates(qc, drop_final_rz=True)
    assert dropped.count_ops().get("r", 0) <= optimised.count_ops().get("r", 0)


def test_single_qubit_optimisation_ignore_barriers() -> None:
    qc = QuantumCircuit(1)
    qc.rx(0.3, 0)
    qc.barrier()
    qc.rx(0.4, 0)
    assert optimize_single_qubit_gates(qc).count_ops() == {"r": 2, "barrier": 1}
    merged = optimize_single_qubit_gates(qc, ignore_barriers=True)
    assert merged.count_ops() == {"r": 1} and Operator(merged).equiv(Operator(qc))


def test_unbound_parameters_survive_routing() -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("θ")
    qc = QuantumCircuit(3)
    qc.rx(theta, 0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    routed = transpile_to_IQM(qc, STAR6, seed_transpiler=1)
    bound = routed.assign_parameters({theta: 0.7})
    wire_valid(bound, STAR6.architecture)
    assert_same_distribution(qc.assign_parameters({theta: 0.7}), bound, 3)


def test_build_target_refuses_resonators_before_qubits() -> None:
    dqa = STAR6.architecture
    with pytest.raises(ValueError, match="higher Qiskit indices"):
        build_target(dqa, ["COMP_R", *dqa.qubits])


def test_no_warnings_on_the_common_path() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        transpile(ghz(4), target=STAR16.target, scheduling_method=DEFAULT_PLUGIN)
