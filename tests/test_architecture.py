"""The module boundaries of the package layering, checked statically and in a subprocess."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import iqm_async

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "iqm_async"


def imported_modules(path: Path, *, type_only: bool = True) -> set[str]:
    """Top-level module names a file imports (lazy ones too); ``type_only=False`` skips ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not type_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (annotations under TYPE_CHECKING do not count)."""
    return imported_modules(path, type_only=False)


def test_import_iqm_async_never_loads_the_facade() -> None:
    code = "import sys, iqm_async, iqm_async.client, iqm_async.job; print(any(m.startswith('iqm_sync_shim') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_no_core_module_imports_the_facade() -> None:
    offenders = [p.name for p in CORE.rglob("*.py") if "iqm_sync_shim" in imported_modules(p)]
    assert offenders == []


QISKIT_FREE = [
    "_transport",
    "_retry",
    "_ratelimit",
    "models/__init__",
    "models/_reader",
    "models/architecture",
    "models/circuits",
    "models/jobs",
    "results",
    "polling",
    "_forecast",
    "_outage",
    "batch/__init__",
    "batch/api",
    "batch/outcomes",
    "batch/plan",
    "batch/progress",
    "batch/run",
    "batch/workers",
    "validation",
    "server/store",
    "ledger/__init__",
    "ledger/records",
    "ledger/store",
    "options",
    "devices/chips",
    "progress",
    "telemetry",
    "_logging",
    "devices/calibration_data",
    "calibration",
    "server/artifacts",
]


@pytest.mark.parametrize("module", QISKIT_FREE)
def test_pure_layers_never_reach_qiskit(module: str) -> None:
    path = CORE / f"{module}.py"
    if not path.exists():
        pytest.skip(f"{module} not present")
    # Annotations under TYPE_CHECKING are allowed; any import that runs (lazy ones included) is not.
    assert not {"qiskit", "qiskit_aer"} & runtime_imports(path)


def test_only_the_transport_touches_httpx_at_runtime() -> None:
    users = sorted(
        str(p.relative_to(CORE))
        for p in CORE.rglob("*.py")
        if "httpx" in runtime_imports(p) and "server" not in p.parts
    )
    assert users == ["_transport.py"]


THREAD_STARTERS = {"Thread", "ThreadPoolExecutor", "ProcessPoolExecutor", "start_new_thread", "run_in_executor"}


# The one exception: a large batch's CPU stage (transpiling, conversion) goes to a process pool it owns
# (executor="auto"); executor=None keeps every batch on the event loop.
POOL_OWNERS = {"sweeps/pipeline.py": {"ProcessPoolExecutor"}}


def test_the_client_path_starts_no_threads() -> None:
    offenders = []
    for p in CORE.rglob("*.py"):
        if "server" in p.parts:
            continue  # the server is an application and may use a worker thread
        allowed = POOL_OWNERS.get(str(p.relative_to(CORE)), set())
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            name = getattr(node, "attr", None) or getattr(node, "id", None)
            if isinstance(node, (ast.Attribute, ast.Name)) and name in (THREAD_STARTERS | {"to_thread"}) - allowed:
                offenders.append(f"{p.relative_to(CORE)}:{node.lineno} {name}")
    assert offenders == []


EXPECTED_EXPORTS = {
    "load_results",
    "save_results",
    "DEFAULT_POLL_POLICY",
    "DEFAULT_RATE_LIMIT_POLICY",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RESULT_TIMEOUT",
    "DEFAULT_RETRY_POLICY",
    "APIStatusError",
    "APIValidationError",
    "AsyncIQMClient",
    "AsyncJob",
    "AuthenticationError",
    "Batch",
    "JournalError",
    "NotSubmittedError",
    "Outcome",
    "BadGatewayError",
    "BatchError",
    "BatchPolicy",
    "CalibrationMetrics",
    "CircuitResult",
    "CircuitExecutionError",
    "CircuitTranspilationError",
    "CircuitValidationError",
    "ClientConfigurationError",
    "ConflictError",
    "ConnectError",
    "DataSizeError",
    "EstimatorV2",
    "ForbiddenError",
    "GatewayTimeoutError",
    "IQMError",
    "InternalSystemError",
    "InvalidOperationError",
    "JobCancelledError",
    "JobData",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "MalformedResponseError",
    "NotFoundError",
    "OperationTimeoutError",
    "PollPolicy",
    "PreparedJob",
    "RateLimitError",
    "RateLimitPolicy",
    "RequestTimeoutError",
    "RetryPolicy",
    "SamplerV2",
    "ServerError",
    "SubmissionUnknownError",
    "SystemUnavailableError",
    "TransportError",
    "UsageError",
    "ValidationError",
    "__version__",
}


def test_public_names_are_pinned() -> None:
    assert set(iqm_async.__all__) >= EXPECTED_EXPORTS, "a public name was removed"
    added = set(iqm_async.__all__) - EXPECTED_EXPORTS
    assert not added, f"new public names need review: {sorted(added)}"
    for name in iqm_async.__all__:
        assert hasattr(iqm_async, name)


def test_both_packages_ship_py_typed() -> None:
    assert (ROOT / "iqm_async" / "py.typed").exists()
    assert (ROOT / "iqm_sync_shim" / "py.typed").exists()


def test_only_the_ledger_touches_sqlite() -> None:
    users = sorted(str(p.relative_to(CORE)) for p in CORE.rglob("*.py") if "sqlite3" in runtime_imports(p))
    assert users == ["ledger/store.py"]


def test_the_library_never_loads_the_command_line() -> None:
    # The CLI is for the iqm-async script only: importing the library (or the facade) must not load it.
    code = "import sys, iqm_async, iqm_async.client, iqm_async.job, iqm_sync_shim; print('iqm_async.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_opentelemetry_is_imported_by_the_telemetry_module_only() -> None:
    # Optional (the `otel` extra): one module imports it, lazily, so a plain install never needs it.
    users = sorted(str(p.relative_to(CORE)) for p in CORE.rglob("*.py") if "opentelemetry" in runtime_imports(p))
    assert users == ["telemetry.py"]
    top_level = {
        alias.name.split(".")[0]
        for node in ast.parse((CORE / "telemetry.py").read_text(encoding="utf-8")).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.parse((CORE / "telemetry.py").read_text(encoding="utf-8")).body
        if isinstance(node, ast.ImportFrom)
    }
    assert "opentelemetry" not in top_level


def test_import_iqm_async_loads_neither_tqdm_nor_opentelemetry() -> None:
    code = "import sys, iqm_async, iqm_async.client, iqm_async.job; print(sorted({m.split('.')[0] for m in sys.modules} & {'tqdm', 'opentelemetry'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
