"""The transpiler's public names, pinned, and its place in the layers (core, never the facade)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import iqm_async.transpiler
import iqm_sync_shim
import iqm_sync_shim.transpile

ROOT = Path(__file__).resolve().parents[2]


def test_core_transpiler_names() -> None:
    assert sorted(iqm_async.transpiler.__all__) == [
        "DEFAULT_PLUGIN",
        "ExistingMoveHandlingOptions",
        "IQMCircuit",
        "IQMDefaultSchedulingPlugin",
        "IQMOptimizeSingleQubitGates",
        "IQMSchedulingPlugin",
        "IQMTarget",
        "MoveGate",
        "MoveRoutingError",
        "ResonatorMoveRouting",
        "StarTopology",
        "build_target",
        "generate_initial_layout",
        "optimize_single_qubit_gates",
        "restrict_architecture",
        "route_moves",
        "target_with_resonators",
        "transpile_to_IQM",
    ]


def test_facade_reexports_the_core_objects() -> None:
    for name in iqm_sync_shim.transpile.__all__:
        ours = getattr(iqm_sync_shim.transpile, name)
        core_name = "ResonatorMoveRouting" if name == "IQMNaiveResonatorMoving" else name
        assert ours is getattr(iqm_async.transpiler, core_name)
    assert iqm_sync_shim.MoveGate is iqm_async.transpiler.MoveGate  # one definition
    assert iqm_sync_shim.transpile_to_IQM is iqm_async.transpiler.transpile_to_IQM


def test_the_transpiler_never_loads_the_facade() -> None:
    code = "import sys, iqm_async.transpiler; print(any(m.startswith('iqm_sync_shim') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
