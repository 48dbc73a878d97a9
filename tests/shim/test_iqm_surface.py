"""IQM's adapter surface (``iqm.qiskit_iqm`` and the ``iqm.iqm_client`` names Qiskit code uses, iqm-client 36), pinned.

Each name is either present under the same module path with the prefix switched, or listed as
deliberately different, with its reason in the README's drop-in section.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import iqm_async
import iqm_sync_shim
import iqm_sync_shim.iqm_client
from iqm_sync_shim import IQMBackend, IQMJob, IQMProvider
from iqm_sync_shim.sync_client import CircuitJobTracker, IQMClient

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

# module of IQM's adapter → names Qiskit code imports from it (iqm-client 36)
PRESENT: dict[str, list[str]] = {
    "iqm.qiskit_iqm": [
        "ExistingMoveHandlingOptions",
        "IQMBackend",
        "IQMCircuit",
        "IQMDefaultSchedulingPlugin",
        "IQMErrorProfile",
        "IQMFakeAdonis",
        "IQMFakeAphrodite",
        "IQMFakeApollo",
        "IQMFakeBackend",
        "IQMFakeDeneb",
        "IQMJob",
        "IQMNaiveResonatorMoving",
        "IQMOptimizeSingleQubitGates",
        "IQMProvider",
        "IQMSchedulingPlugin",
        "IQMTarget",
        "MoveGate",
        "__version__",
        "generate_initial_layout",
        "optimize_single_qubit_gates",
        "transpile_to_IQM",
    ],
    "iqm.qiskit_iqm.iqm_provider": ["IQMBackend", "IQMFacadeBackend", "IQMProvider"],
    "iqm.qiskit_iqm.fake_backends": [
        "IQMErrorProfile",
        "IQMFakeAdonis",
        "IQMFakeAphrodite",
        "IQMFakeApollo",
        "IQMFakeBackend",
        "IQMFakeDeneb",
    ],
    "iqm.qiskit_iqm.fake_backends.iqm_fake_backend": ["IQMErrorProfile", "IQMFakeBackend"],
    "iqm.qiskit_iqm.fake_backends.fake_adonis": ["IQMFakeAdonis"],
    "iqm.qiskit_iqm.fake_backends.fake_apollo": ["IQMFakeApollo"],
    "iqm.qiskit_iqm.fake_backends.fake_aphrodite": ["IQMFakeAphrodite"],
    "iqm.qiskit_iqm.fake_backends.fake_deneb": ["IQMFakeDeneb"],
    "iqm.qiskit_iqm.fake_backends.fake_garnet": ["IQMFakeGarnet"],
    "iqm.qiskit_iqm.iqm_backend": ["IQMBackendBase"],
    "iqm.qiskit_iqm.iqm_job": ["IQMJob"],
    "iqm.qiskit_iqm.move_gate": ["MoveGate"],
    "iqm.qiskit_iqm.iqm_circuit": ["IQMCircuit"],
    "iqm.qiskit_iqm.iqm_naive_move_pass": ["IQMNaiveResonatorMoving", "transpile_to_IQM"],
    "iqm.qiskit_iqm.iqm_transpilation": ["IQMOptimizeSingleQubitGates", "optimize_single_qubit_gates"],
    "iqm.qiskit_iqm.iqm_move_layout": ["generate_initial_layout"],
    "iqm.iqm_client": [
        "CircuitCompilationOptions",
        "DDMode",
        "DDStrategy",
        "ExistingMoveHandlingOptions",
        "HeraldingMode",
        "IQMClient",
        "MoveGateFrameTrackingMode",
        "MoveGateValidationMode",
        "STANDARD_DD_STRATEGY",
        *[
            "AuthenticationError",
            "BadGatewayError",
            "BadRequestError",
            "CircuitExecutionError",
            "CircuitTranspilationError",
            "CircuitValidationError",
            "ConflictError",
            "DataSizeError",
            "ForbiddenError",
            "GatewayTimeoutError",
            "IQMError",
            "InternalServerError",
            "InternalSystemError",
            "InvalidOperationError",
            "NotFoundError",
            "OperationTimeoutError",
            "PayloadTooLargeError",
            "RateLimitError",
            "ServiceUnavailableError",
            "SystemUnavailableError",
            "TooManyRequestsError",
            "UnauthorizedError",
            "ValidationError",
        ],
    ],
}

DELIBERATELY_DIFFERENT = [
    # station-control / pulse-level errors
    "EmptyComponentListError",
    "UnknownSettingError",
    "EngineInitialisationError",
    "UnknownObservationError",
    # named differently
    "GatewayTimeoutError",
    "MoveGateRouting…Plugin",
]

BACKEND = [
    "architecture",
    "client",
    "coupling_map",
    "create_circuit_job_definition",
    "get_real_target",
    "get_scheduling_stage_plugin",
    "has_resonators",
    "index_to_qubit_name",
    "max_circuits",
    "metrics",
    "physical_qubits",
    "qubit_name_to_index",
    "retrieve_job",
    "run",
    "serialize_circuit",
    "target",
    "target_with_resonators",
]
JOB = [
    "_iqm_format_measurement_results",
    "_iqm_format_results",
    "cancel",
    "circuit_metadata",
    "error_message",
    "queue_position",
    "result",
    "status",
    "submit",
    "wait_for_final_state",
]
CLIENT = [
    "cancel_job",
    "create_circuit_job_definition",
    "delete_job",
    "get_about",
    "get_chip_label",
    "get_dynamic_quantum_architecture",
    "get_health",
    "get_job",
    "get_job_measurement_counts",
    "get_job_measurements",
    "get_quantum_computers",
    "get_static_quantum_architecture",
    "quantum_computer_name",
    "submit_circuit_job",
    "submit_circuits",
]
TRACKER = ["cancel", "errors", "job_data", "job_id", "payload", "result", "result_counts", "status", "update"]


def ours(module: str) -> str:
    """The ``sed`` a user runs on their imports."""
    return module.replace("iqm.qiskit_iqm", "iqm_sync_shim").replace("iqm.iqm_client", "iqm_sync_shim.iqm_client")


@pytest.mark.parametrize("module", list(PRESENT))
def test_iqm_names_exist_under_the_switched_path(module: str) -> None:
    mod = importlib.import_module(ours(module))
    missing = [name for name in PRESENT[module] if not hasattr(mod, name)]
    assert missing == []


@pytest.mark.parametrize("name", DELIBERATELY_DIFFERENT)
def test_deliberate_differences_are_documented(name: str) -> None:
    section = README.split("## Drop-in for IQM's adapter", 1)[1].split("\n## ", 1)[0]
    assert f"`{name}" in section


def test_backend_job_and_client_members() -> None:
    assert [m for m in BACKEND if not hasattr(IQMBackend, m) and m not in ("architecture", "metrics")] == []
    assert [m for m in JOB if not hasattr(IQMJob, m)] == []
    assert [m for m in CLIENT if not hasattr(IQMClient, m)] == []
    # job_data is set per instance; the rest are class attributes
    assert [m for m in TRACKER if m != "job_data" and not hasattr(CircuitJobTracker, m)] == []
    assert hasattr(IQMProvider, "get_backend") and hasattr(IQMProvider, "backends")
    assert list(inspect.signature(IQMBackend.create_circuit_job_definition).parameters)[:6] == [
        "self",
        "run_input",
        "shots",
        "circuit_compilation_options",
        "circuit_callback",
        "qubit_index_to_name",
    ]
    assert list(inspect.signature(IQMBackend.serialize_circuit).parameters) == [
        "self",
        "circuit",
        "qubit_index_to_name",
    ]


def test_error_names_are_our_classes() -> None:
    shim = iqm_sync_shim
    assert shim.UnauthorizedError is iqm_async.AuthenticationError
    assert shim.BadRequestError is iqm_async.InvalidOperationError
    assert shim.PayloadTooLargeError is iqm_async.DataSizeError
    assert shim.TooManyRequestsError is iqm_async.RateLimitError
    assert shim.InternalServerError is iqm_async.InternalSystemError
    assert shim.ServiceUnavailableError is iqm_async.SystemUnavailableError
    assert shim.GatewayTimeoutError is iqm_async.OperationTimeoutError  # IQM's alias
    assert issubclass(iqm_async.GatewayTimeoutError, shim.GatewayTimeoutError)
    assert issubclass(shim.CircuitValidationError, shim.ValidationError)
    assert issubclass(shim.CircuitTranspilationError, shim.ValidationError)
    assert issubclass(shim.JobFailedError, shim.CircuitExecutionError)
    assert issubclass(shim.JobTimeoutError, shim.OperationTimeoutError)
    for name in PRESENT["iqm.iqm_client"]:
        value = getattr(iqm_sync_shim.iqm_client, name)
        if name.endswith("Error"):
            assert issubclass(value, iqm_async.IQMError), name
