"""The facade's public surface, pinned: exported names, IQM's method signatures, and the loop rules."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

from qiskit.providers import JobV1

import iqm_sync_shim
from iqm_sync_shim import IQMBackend, IQMJob, IQMProvider

from .conftest import run_script

SHIM = Path(iqm_sync_shim.__file__).parent


def test_exported_names() -> None:
    assert sorted(iqm_sync_shim.__all__) == sorted(
        [
            "ExistingMoveHandlingOptions",
            "IQMBackend",
            "IQMCircuit",
            "IQMJob",
            "IQMNaiveResonatorMoving",
            "IQMOptimizeSingleQubitGates",
            "IQMProvider",
            "JobFailedError",
            "JobTimeoutError",
            "MoveGate",
            "PortalThreadError",
            "RunnerClosedError",
            "generate_initial_layout",
            "optimize_single_qubit_gates",
            "transpile_to_IQM",
            "__version__",
            # native primitives on the portal loop
            "EstimatorV2",
            "IQMPrimitiveJob",
            "SamplerV2",
            "IQMDefaultSchedulingPlugin",
            "IQMSchedulingPlugin",
            "IQMTarget",
            # IQM's option objects
            "CircuitCompilationOptions",
            "DDMode",
            "DDStrategy",
            "HeraldingMode",
            "MoveGateFrameTrackingMode",
            "MoveGateValidationMode",
            # IQM's error names (iqm-client 36), and ours for use_metrics=True
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
            "MetricsNotAvailableError",
            "NotFoundError",
            # IQM's fake backends (iqm.qiskit_iqm exports these)
            "IQMErrorProfile",
            "IQMFakeAdonis",
            "IQMFakeAphrodite",
            "IQMFakeApollo",
            "IQMFakeBackend",
            "IQMFakeDeneb",
            "OperationTimeoutError",
            "PayloadTooLargeError",
            "RateLimitError",
            "ServiceUnavailableError",
            "SystemUnavailableError",
            "TooManyRequestsError",
            "UnauthorizedError",
            "ValidationError",
        ]
    )
    assert all(hasattr(iqm_sync_shim, name) for name in iqm_sync_shim.__all__)


def params(fn: object) -> list[str]:
    return [str(p) for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


def test_iqm_job_has_the_reference_surface() -> None:
    assert issubclass(IQMJob, JobV1)
    assert params(IQMJob.__init__) == [
        "self",
        "backend: 'IQMBackend'",
        "job_id: 'str'",
        "timeout_seconds: 'float | None' = None",
        "**kwargs: 'Any'",
    ]
    assert params(IQMJob.queue_position) == ["self", "refresh: 'bool' = False"]
    # IQM's two parameters, then ours, keyword-only: a tqdm line while waiting.
    assert params(IQMJob.result) == [
        "self",
        "timeout: 'float | None' = None",
        "cancel_after_timeout: 'bool' = False",
        "progress: 'bool | None' = None",
    ]
    assert params(IQMJob.wait_for_final_state)[1:] == [
        "timeout: 'float | None' = None",
        "wait: 'float' = 5",
        "callback: 'Callable[..., Any] | None' = None",
    ]
    for name in ("submit", "cancel", "status", "error_message"):
        assert params(getattr(IQMJob, name)) == ["self"]
    for name in ("_format_iqm_results", "_format_measurement_results"):
        assert isinstance(inspect.getattr_static(IQMJob, name), staticmethod)
    for name in ("result_async", "status_async", "cancel_async"):
        assert inspect.iscoroutinefunction(getattr(IQMJob, name))


def test_provider_and_backend_signatures() -> None:
    use_metrics = inspect.signature(IQMProvider.get_backend).parameters["use_metrics"]
    assert use_metrics.kind is inspect.Parameter.KEYWORD_ONLY
    sig = inspect.signature(IQMProvider.__init__).parameters
    assert list(sig)[:5] == ["self", "url", "token", "tokens_file", "quantum_computer"]
    assert sig["url"].default is None and sig["url"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(sig[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("token", "tokens_file", "quantum_computer"))
    assert params(IQMProvider.get_backend)[1:] == [
        "name: 'str | None' = None",
        "calibration_set_id: 'str | uuid.UUID | None' = None",
        "use_metrics: 'bool' = False",
    ]
    run = params(IQMBackend.run)
    assert run[1] == "run_input: 'QuantumCircuit | Sequence[QuantumCircuit]'"
    assert run[2:5] == [
        "shots: 'int | None' = None",
        "timeout_seconds: 'float | None' = None",
        "calibration_set_id: 'str | uuid.UUID | None' = None",
    ]
    assert IQMBackend._default_options().shots == 1024


def test_the_shim_never_runs_a_loop_of_its_own_making() -> None:
    forbidden = re.compile(r"asyncio\.run\b|nest_asyncio|run_until_complete|get_event_loop\b")
    for path in SHIM.glob("*.py"):
        assert not forbidden.search(path.read_text()), path
    # Only the runner knows about threads.
    for path in SHIM.glob("*.py"):
        if path.name != "_runner.py":
            assert "threading.Thread(" not in path.read_text(), path


def test_importing_the_shim_starts_no_thread() -> None:
    code = textwrap.dedent(
        """
        import threading
        before = threading.active_count()
        import iqm_sync_shim
        assert threading.active_count() == before, threading.enumerate()
        from iqm_sync_shim import _runner
        assert _runner._runner is None
        """
    )
    proc = run_script(code, python_flags=("-W", "error"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
