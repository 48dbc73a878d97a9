"""Wire models of the IQM Server API v1 and their JSON mapping, shared by the client and the server.

The client parses replies with the ``from_json`` class methods; a reply that does not fit raises
:class:`~iqm_async.errors.MalformedResponseError` (never a bare ``KeyError``/``TypeError``). The
server parses job definitions with :meth:`CircuitJobDefinition.from_json`, which raises
:class:`~iqm_async.errors.ValidationError` with a message fit for a 422. Unknown fields are ignored
and missing optional fields take their documented defaults (docs/protocol.md#error-bodies-and-error-classes).
"""

from __future__ import annotations

from ._reader import parse_uuid
from .architecture import (
    DynamicQuantumArchitecture,
    ErrorBody,
    GateInfo,
    Locus,
    QuantumComputer,
    StaticQuantumArchitecture,
)
from .circuits import (
    DD_MODES,
    FRAME_TRACKING_MODES,
    HERALDING_MODES,
    JOB_OPTION_NAMES,
    MOVE_VALIDATION_MODES,
    Circuit,
    CircuitJobDefinition,
    DDMode,
    HeraldingMode,
    Instruction,
    JobParameters,
    MoveGateFrameTracking,
    MoveGateValidation,
)
from .jobs import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    KNOWN_STATUSES,
    JobData,
    JobStatusStr,
    TimelineEntry,
    parse_measurement_key,
)

__all__ = [
    "ACTIVE_STATUSES",
    "DD_MODES",
    "FRAME_TRACKING_MODES",
    "HERALDING_MODES",
    "MOVE_VALIDATION_MODES",
    "DDMode",
    "HeraldingMode",
    "JobStatusStr",
    "Locus",
    "MoveGateFrameTracking",
    "MoveGateValidation",
    "parse_uuid",
    "FINAL_STATUSES",
    "JOB_OPTION_NAMES",
    "KNOWN_STATUSES",
    "Circuit",
    "CircuitJobDefinition",
    "DynamicQuantumArchitecture",
    "ErrorBody",
    "GateInfo",
    "Instruction",
    "JobData",
    "JobParameters",
    "QuantumComputer",
    "StaticQuantumArchitecture",
    "TimelineEntry",
    "parse_measurement_key",
]
