"""Our option objects and error names checked against IQM's own package (iqm-client 36), when it is installed.

IQM's client lives in its own environment (``IQM_REFERENCE_PYTHON``, default ``/work/iqmvenv/bin/python``);
the test runs there, loads our ``iqm_async/options.py`` by path (it needs only the standard library) and
prints what IQM's objects become on our wire, so the comparison uses IQM's real classes. Skipped when
that interpreter is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import iqm_sync_shim
import iqm_sync_shim.iqm_client
from iqm_async.options import STANDARD_DD_STRATEGY, CircuitCompilationOptions, DDMode, DDStrategy, HeraldingMode

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("IQM_REFERENCE_PYTHON", "/work/iqmvenv/bin/python"))

SCRIPT = r"""
import importlib.util, inspect, json, sys
spec = importlib.util.spec_from_file_location("our_options", sys.argv[1])
ours = importlib.util.module_from_spec(spec)
sys.modules["our_options"] = ours
spec.loader.exec_module(ours)
import iqm.iqm_client as client
from iqm.iqm_client import CircuitCompilationOptions, DDMode, DDStrategy, HeraldingMode, STANDARD_DD_STRATEGY
options = CircuitCompilationOptions(
    heralding_mode=HeraldingMode.ZEROS,
    dd_mode=DDMode.ENABLED,
    dd_strategy=DDStrategy(target_qubits=frozenset({"QB2", "QB1"}), gate_sequences=[(5, "YXYX", "asap")]),
)
errors = sorted(
    n for n in dir(client)
    if n.endswith("Error") and inspect.isclass(getattr(client, n)) and issubclass(getattr(client, n), Exception)
)
print(json.dumps({
    "options": ours.job_options_from(options),
    "defaults": ours.job_options_from(CircuitCompilationOptions()),
    "standard_dd": ours.to_wire(STANDARD_DD_STRATEGY),
    "enums": {e.__name__: [m.value for m in e] for e in (
        client.HeraldingMode, client.DDMode, client.MoveGateValidationMode, client.MoveGateFrameTrackingMode)},
    "errors": errors,
}))
"""

NOT_PROVIDED = {
    "EmptyComponentListError",
    "UnknownSettingError",
    "EngineInitialisationError",
    "UnknownObservationError",
}
"""IQM's station-control / pulse-level errors (documented in the README's drop-in section)."""


@pytest.fixture(scope="module")
def iqm() -> dict[str, object]:
    if not REFERENCE.exists():
        pytest.skip(f"IQM's reference client is not installed at {REFERENCE}")
    out = subprocess.run(
        [str(REFERENCE), "-W", "ignore", "-c", SCRIPT, str(ROOT / "iqm_async" / "options.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    data: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def test_iqm_objects_give_our_wire_form(iqm: dict[str, object]) -> None:
    ours = CircuitCompilationOptions(
        heralding_mode=HeraldingMode.ZEROS,
        dd_mode=DDMode.ENABLED,
        dd_strategy=DDStrategy(target_qubits=frozenset({"QB2", "QB1"}), gate_sequences=[(5, "YXYX", "asap")]),
    )
    assert iqm["options"] == ours.to_job_options()
    assert iqm["defaults"] == CircuitCompilationOptions().to_job_options()
    assert iqm["standard_dd"] == STANDARD_DD_STRATEGY.to_json()
    json.dumps(iqm["options"])  # IQM's frozenset went out as a list


def test_enum_values_are_iqm_values(iqm: dict[str, object]) -> None:
    enums = iqm["enums"]
    assert isinstance(enums, dict)
    for name, values in enums.items():
        assert [m.value for m in getattr(iqm_sync_shim, name)] == values


def test_every_iqm_error_name_is_ours_or_documented(iqm: dict[str, object]) -> None:
    names = iqm["errors"]
    assert isinstance(names, list) and "CircuitExecutionError" in names
    missing = [n for n in names if not hasattr(iqm_sync_shim.iqm_client, n) and n not in NOT_PROVIDED]
    assert missing == []
