"""Qiskit scheduling-stage plugins: single-qubit optimisation and MOVE routing inside ``transpile()``.

Qiskit finds these through the ``qiskit.transpiler.scheduling`` entry points of this package, so
``transpile(circuit, backend)`` (the backend names :data:`DEFAULT_PLUGIN` in
``get_scheduling_stage_plugin()``), ``transpile(..., scheduling_method="move_routing_keep")`` and
``generate_preset_pass_manager(backend=backend)`` route MOVEs on star chips.

The plugins are registered under IQM's names (``move_routing``, ``only_rz_optimization_drop_final_rzs``
…), so code written for IQM's adapter keeps working. Our backends ask for :data:`DEFAULT_PLUGIN`
(``iqm_async_default_scheduling``), and :func:`~iqm_async.transpiler.transpile_to_IQM` builds its stage
directly, so both keep getting ours even when IQM's adapter, which registers the unprefixed names for
its own backends, is installed in the same environment.
"""

from __future__ import annotations

from typing import Any

from qiskit.transpiler import PassManager  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.passmanager_config import PassManagerConfig  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.preset_passmanagers.plugin import (  # type: ignore[import-untyped, unused-ignore]
    PassManagerStagePlugin,
)

from ..errors import CircuitTranspilationError
from .passes import IQMOptimizeSingleQubitGates
from .routing import ExistingMoveHandlingOptions, ResonatorMoveRouting
from .target import IQMTarget, StarTopology

__all__ = [
    "DEFAULT_PLUGIN",
    "SCHEDULING_PLUGINS",
    "IQMDefaultSchedulingPlugin",
    "IQMSchedulingPlugin",
]

DEFAULT_PLUGIN = "iqm_async_default_scheduling"
"""The scheduling plugin an ``IQMBackend`` asks Qiskit for."""


def _has_moves(target: Any) -> bool:
    return isinstance(target, IQMTarget) and StarTopology(target.iqm_dqa, target.component_names).has_moves


class IQMSchedulingPlugin(PassManagerStagePlugin):  # type: ignore[misc, unused-ignore]  # qiskit ships no types
    """A scheduling stage of single-qubit optimisation and/or MOVE routing (IQM's plugin, same arguments).

    Args:
        move_gate_routing: route qubit–qubit ``cz`` gates through the resonators (star chips; needs the
            backend's target, a no-op elsewhere).
        optimize_sqg: merge single-qubit gates and make z rotations virtual, before routing.
        drop_final_rz: drop the z rotations left at the end of the circuit.
        ignore_barriers: let the single-qubit optimisation merge across barriers.
        existing_move_handling: what routing does with MOVEs already in the circuit (default ``keep``).
    """

    def __init__(
        self,
        move_gate_routing: bool,
        optimize_sqg: bool,
        drop_final_rz: bool,
        ignore_barriers: bool,
        existing_move_handling: ExistingMoveHandlingOptions | None,
    ) -> None:
        super().__init__()
        self.move_gate_routing = move_gate_routing
        self.optimize_sqg = optimize_sqg
        self.drop_final_rz = drop_final_rz
        self.ignore_barriers = ignore_barriers
        self.existing_move_handling = existing_move_handling or ExistingMoveHandlingOptions.KEEP

    def pass_manager(
        self, pass_manager_config: PassManagerConfig, optimization_level: int | None = None
    ) -> PassManager:
        """Build the scheduling stage's pass manager."""
        stage = PassManager()
        if self.optimize_sqg:
            stage.append(IQMOptimizeSingleQubitGates(self.drop_final_rz, self.ignore_barriers))
        if self.move_gate_routing:
            target = pass_manager_config.target
            if target is None:
                raise CircuitTranspilationError("MOVE routing needs the transpilation target; pass backend= or target=")
            if _has_moves(target):
                stage.append(ResonatorMoveRouting(target, self.existing_move_handling))
        return stage


class IQMDefaultSchedulingPlugin(IQMSchedulingPlugin):  # type: ignore[misc, unused-ignore]
    """What ``transpile(circuit, backend)`` runs: on star chips, optimisation (not at level 0) and MOVE routing.

    On chips without MOVE it adds nothing, so crystal circuits transpile exactly as with Qiskit's
    default scheduling stage.
    """

    def __init__(self) -> None:
        super().__init__(True, True, False, False, None)

    def pass_manager(
        self, pass_manager_config: PassManagerConfig, optimization_level: int | None = None
    ) -> PassManager:
        """Build the stage: empty without MOVEs; otherwise routing, after optimisation unless at level 0."""
        if not _has_moves(pass_manager_config.target):
            return PassManager()
        plugin = IQMSchedulingPlugin(True, optimization_level != 0, False, False, None)
        return plugin.pass_manager(pass_manager_config, optimization_level)


def _options(name: str) -> tuple[bool, bool, bool, bool, ExistingMoveHandlingOptions | None]:
    """Read a plugin name back into ``(routing, optimise, drop_final_rz, ignore_barriers, handling)``."""
    routing = name.startswith(("move_routing", "only_move_routing"))
    optimise = not name.startswith("only_move_routing")
    handling = None
    for option in ExistingMoveHandlingOptions:
        if name.endswith("_" + option.value):
            handling = option
    ignore = "ignore_barriers" in name or "ignores_barriers" in name
    return routing, optimise, "drop_final_rzs" in name, ignore, handling


_NAMES = (
    [
        "move_routing",
        "move_routing_exact_global_phase",
        "move_routing_rz_optimization_ignores_barriers",
        "only_move_routing",
        "only_rz_optimization",
        "only_rz_optimization_exact_global_phase",
        "only_rz_optimization_exact_global_phase_ignore_barriers",
        "only_rz_optimization_ignore_barriers",
        "only_rz_optimization_drop_final_rzs",
        "only_rz_optimization_drop_final_rzs_ignore_barriers",
    ]
    + [
        f"{base}_{option.value}"
        for base in (
            "move_routing",
            "move_routing_drop_final_rzs",
            "move_routing_ignore_barriers",
            "move_routing_drop_final_rzs_ignore_barriers",
            "only_move_routing",
        )
        for option in ExistingMoveHandlingOptions
    ]
    + ["move_routing_drop_final_rzs", "move_routing_ignore_barriers", "move_routing_drop_final_rzs_ignore_barriers"]
)


def _plugin_class(name: str) -> type[IQMSchedulingPlugin]:
    options = _options(name)

    def __init__(self: IQMSchedulingPlugin) -> None:
        IQMSchedulingPlugin.__init__(self, *options)

    class_name = "".join(part.capitalize() for part in name.split("_")) + "Plugin"
    doc = f"The ``{name}`` scheduling stage (IQM's name): routing={options[0]}, optimise={options[1]}."
    return type(class_name, (IQMSchedulingPlugin,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


SCHEDULING_PLUGINS: dict[str, type[IQMSchedulingPlugin]] = {
    "iqm_default_scheduling": IQMDefaultSchedulingPlugin,
    **{name: _plugin_class(name) for name in _NAMES},
}
"""Every plugin by IQM's name (the entry points of this package, with ``DEFAULT_PLUGIN``)."""

# Entry points name ``module:ClassName``, so each generated class is a module attribute.
globals().update({cls.__name__: cls for cls in SCHEDULING_PLUGINS.values()})
