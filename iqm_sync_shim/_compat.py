"""What the backend needs to look like IQM's: run-option keywords, the architecture view, the coupling map.

Kept apart from :mod:`iqm_sync_shim.backend` so the backend module holds the Qiskit ``BackendV2``
and its run path, and this one the IQM-shaped details around it.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qiskit.transpiler import CouplingMap

from iqm_async.models import DynamicQuantumArchitecture
from iqm_async.options import COMPILATION_OPTION_NAMES, job_options_from, to_wire

__all__ = ["IQMArchitecture", "crystal_coupling_map", "take_job_options"]

_LEGACY_WARNED_BY_IQM = ("max_circuit_duration_over_t2", "heralding_mode")
"""The top-level keywords IQM's adapter still reads, with its DeprecationWarning."""


@dataclass(frozen=True)
class IQMArchitecture(DynamicQuantumArchitecture):
    """The backend's dynamic quantum architecture as IQM's adapter shows it: ``calibration_set_id`` is a ``UUID``.

    Everything else is the wire model (:class:`iqm_async.models.DynamicQuantumArchitecture`), so it
    can be passed wherever that is expected.
    """

    calibration_set_id: uuid.UUID  # type: ignore[assignment]  # IQM's type; the wire model keeps the string

    @classmethod
    def of(cls, dqa: DynamicQuantumArchitecture) -> IQMArchitecture:
        """Wrap a wire DQA."""
        return cls(
            calibration_set_id=uuid.UUID(str(dqa.calibration_set_id)),
            qubits=dqa.qubits,
            computational_resonators=dqa.computational_resonators,
            gates=dqa.gates,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of the wire format (the id as a string)."""
        out = super().to_json()
        out["calibration_set_id"] = str(self.calibration_set_id)
        return out


def take_job_options(options: dict[str, Any], *, stacklevel: int = 3) -> dict[str, Any]:
    """Pop the job options out of ``backend.run``'s keyword arguments and return them for the core.

    ``circuit_compilation_options`` may be ours, IQM's own object, anything with its attribute names,
    or a mapping. The old top-level keywords (``heralding_mode=``, ``max_circuit_duration_over_t2=``, and
    the other compilation options) still work, with IQM's DeprecationWarning; given together with
    ``circuit_compilation_options`` they override its fields. ``qubit_mapping`` and ``tags`` are job
    parameters, not compilation options, and are taken as they are.
    """
    job_options = job_options_from(options.pop("circuit_compilation_options", None))
    legacy = [name for name in COMPILATION_OPTION_NAMES if name in options]
    if legacy:
        if set(legacy) <= set(_LEGACY_WARNED_BY_IQM):
            names = " and ".join(_LEGACY_WARNED_BY_IQM) + " are"  # IQM's exact message
        else:
            names = ", ".join(legacy) + (" is" if len(legacy) == 1 else " are")
        warnings.warn(
            DeprecationWarning(f"{names} deprecated, please use circuit_compilation_options instead."),
            stacklevel=stacklevel,
        )
        for name in legacy:
            value = options.pop(name)
            job_options[name] = None if value is None else to_wire(value)
    for name in ("qubit_mapping", "tags"):
        if name in options:
            job_options[name] = options.pop(name)
    return job_options


def crystal_coupling_map(dqa: DynamicQuantumArchitecture, index: Mapping[str, int]) -> CouplingMap:
    """Return a coupling map with each calibrated CZ coupler once, in the DQA's order and orientation (as IQM's)."""
    edges: list[tuple[int, int]] = []
    seen: set[frozenset[int]] = set()
    info = dqa.gates.get("cz")
    for locus in () if info is None else info.loci:
        if len(locus) == 2 and all(c in index for c in locus):
            a, b = index[locus[0]], index[locus[1]]
            if frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                edges.append((a, b))
    cmap = CouplingMap(edges)
    # Qubits without any coupler are still part of the chip.
    for name in dqa.qubits:
        if name in index and index[name] not in cmap.physical_qubits:
            cmap.add_physical_qubit(index[name])
    return cmap
