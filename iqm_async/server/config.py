"""Frozen settings of the embedded IQM-compatible server (docs/protocol.md), with every default named."""

from __future__ import annotations

import ipaddress
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CHIP_SIM",
    "DEFAULT_CALIBRATION_SET_ID",
    "DEFAULT_DISPLAY_NAME",
    "DEFAULT_KEEP_FINISHED_BYTES",
    "DEFAULT_KEEP_FINISHED_JOBS",
    "DEFAULT_KEEP_FINISHED_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_QC_ALIAS",
    "DEFAULT_QC_ID",
    "LAYOUTS",
    "NOISE_MODES",
    "Layout",
    "RateLimitConfig",
    "ServerConfig",
    "is_loopback_host",
]

CHIP_SIM = "sim"
"""Chip name of the generic simulator chip, shaped by ``qubits`` and ``layout``."""

Layout = Literal["square", "line", "star"]
LAYOUTS: tuple[str, ...] = ("square", "line", "star")
NOISE_MODES: tuple[str, ...] = ("ideal", "calibrated")
"""``ideal``: exact simulation; ``calibrated``: Aer noise from the job's calibration set."""

DEFAULT_QC_ID = "cd4dd889-b88b-4370-ba01-eb8262ad9c53"
"""Id of the one quantum computer the server serves."""
DEFAULT_QC_ALIAS = "sim"
"""Alias of the quantum computer, used as ``{qc}`` in every path."""
DEFAULT_DISPLAY_NAME = "iqm_async simulator"
"""Human-readable name of the quantum computer."""
DEFAULT_CALIBRATION_SET_ID = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"
"""Id of the default calibration set; fixed so that runs are comparable."""
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest accepted request body (``413`` above it)."""
DEFAULT_KEEP_FINISHED_SECONDS = 3600.0
"""How long a finished job stays readable by default (one hour)."""
DEFAULT_KEEP_FINISHED_JOBS = 10_000
"""How many finished jobs are kept by default."""
DEFAULT_KEEP_FINISHED_BYTES = 1024 * 1024 * 1024
"""How many bytes of finished jobs' artifacts are kept by default (1 GiB)."""
MIB_10 = 10 * 1024 * 1024


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` names a loopback address (``localhost``, ``127.0.0.0/8`` or ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")


def _check_uuid(name: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{name} must be a UUID string, got {value!r}") from None


@dataclass(frozen=True)
class RateLimitConfig:
    """The server's request budget (docs/protocol.md); every number is configurable."""

    enabled: bool = True
    """Whether requests are charged at all; off means no ``429`` ever (the headers are still sent)."""
    quota: int = 2000
    """Units allowed per rolling window."""
    window_s: float = 10.0
    """Length of the rolling window in seconds."""
    block_s: float = 30.0
    """How long a bucket stays blocked once the quota is exceeded."""
    cost_submit: int = 100
    """Cost of a job submission (E4)."""
    cost_cancel: int = 100
    """Cost of a cancellation (E9)."""
    cost_delete: int = 100
    """Cost of a deletion (E10); IQM publishes no figure, this is our choice."""
    cost_read: int = 10
    """Cost of every other request under ``/api/v1``."""
    cost_per_10mib: int = 100
    """Extra cost of a submission for every full 10 MiB of request body."""

    def __post_init__(self) -> None:
        if isinstance(self.quota, bool) or not isinstance(self.quota, int) or self.quota < 1:
            raise ValueError(f"quota must be a positive integer, got {self.quota!r}")
        _check_non_negative("window_s", self.window_s)
        _check_non_negative("block_s", self.block_s)
        for name in ("cost_submit", "cost_cancel", "cost_delete", "cost_read", "cost_per_10mib"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")

    def submit_cost(self, body_bytes: int) -> int:
        """Return the cost of a submission whose body has ``body_bytes`` bytes."""
        return self.cost_submit + self.cost_per_10mib * (max(0, body_bytes) // MIB_10)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the embedded server can be constructed with (docs/protocol.md#queue-and-execution).

    Override single fields with :func:`dataclasses.replace` or through ``serve_in_thread(**overrides)``.
    """

    host: str = "127.0.0.1"
    """Address to bind; loopback unless ``allow_remote`` is set."""
    port: int = 0
    """Port to bind; 0 picks a free one, and the bound URL is reported."""
    chip: str = CHIP_SIM
    """Chip of the first quantum computer served: ``sim`` (shaped by ``qubits``/``layout``, served under ``alias``)
    or a named shape of :mod:`iqm_async.devices.chips` (``garnet``, ``emerald``, ``sirius``, ``deneb``), served
    under its own name."""
    extra_chips: tuple[str, ...] = ()
    """Further quantum computers served at the same time (E1 lists them all; clients pick one by alias)."""
    qubits: int = 20
    """Number of qubits ``QB1…QBn`` of the ``sim`` chip."""
    layout: Layout = "square"
    """``square`` (near-square lattice, 4 × 5 for 20), ``line``, or ``star`` (``COMP_R`` with a MOVE to every qubit)."""
    alias: str = DEFAULT_QC_ALIAS
    """Alias of the quantum computer."""
    qc_id: str = DEFAULT_QC_ID
    """UUID of the quantum computer."""
    display_name: str = DEFAULT_DISPLAY_NAME
    """Display name of the quantum computer."""
    calibration_set_id: str = DEFAULT_CALIBRATION_SET_ID
    """UUID of the default calibration set."""
    dut_label: str = "M000-0000-0001"
    """Chip label reported in the static quantum architecture."""
    exec_time_per_circuit: float = 0.0
    """Seconds added to the execution of every circuit, on top of the real simulation time."""
    exec_time_per_shot: float = 0.0
    """Seconds added per shot of every circuit."""
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    """The request budget; ``RateLimitConfig(enabled=False)`` switches it off."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest accepted request body in bytes."""
    tokens: frozenset[str] = field(default=frozenset(), repr=False)
    """Accepted bearer tokens; empty means authentication is off. With tokens, each job belongs to the token
    that created it and every other token gets ``404`` for it."""
    control_token: str | None = field(default=None, repr=False)
    """Bearer token the ``/_control`` API demands once set. A server with ``tokens`` and no control token
    refuses ``/_control`` over HTTP (403); :func:`serve_in_thread` draws one for such a server instead."""
    keep_finished_seconds: float | None = DEFAULT_KEEP_FINISHED_SECONDS
    """Seconds a finished job (and its results) stays readable; afterwards it answers ``404``. None: no age limit."""
    keep_finished_jobs: int | None = DEFAULT_KEEP_FINISHED_JOBS
    """Most finished jobs kept; the oldest is evicted first. None: no count limit."""
    keep_finished_bytes: int | None = DEFAULT_KEEP_FINISHED_BYTES
    """Most bytes of finished jobs' artifacts kept (the newest job is kept whatever its size). None: no limit."""
    seed: int | None = None
    """Seed of the measurement RNG; ``None`` draws a random one, an integer makes outcomes reproducible."""
    noise: str | tuple[tuple[str, str], ...] = "ideal"
    """``ideal`` (exact), ``calibrated`` (noise from each job's calibration set: thermal relaxation, fitted
    depolarizing error, readout error; heralding drops shots), or per quantum computer, e.g.
    ``{"garnet": "calibrated"}`` (others stay ideal)."""
    max_components: int = 20
    """Largest number of components one circuit may entangle (its active width, ``422`` above it).

    The executor simulates only the components a circuit touches, and independent groups of them
    separately, so a circuit may touch every qubit of a 54-qubit chip as long as no group of
    components joined by two-qubit gates or classical feedback is larger than this."""
    max_shots: int = 1_000_000
    """Largest accepted ``shots`` (``422`` above it); keeps a typo from exhausting memory."""
    request_log_size: int = 100_000
    """How many API requests the request log keeps (oldest dropped first)."""
    allow_remote: bool = False
    """Allow a non-loopback ``host``; off by default so the server is never exposed by accident."""

    def __post_init__(self) -> None:
        if not isinstance(self.tokens, frozenset):
            # A list or set of tokens is an easy thing to pass; keep the field hashable and immutable.
            object.__setattr__(self, "tokens", frozenset(_token_iter(self.tokens)))
        if not all(isinstance(t, str) and t for t in self.tokens):
            raise ValueError("tokens must be non-empty strings")
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"host must be a non-empty string, got {self.host!r}")
        if not self.allow_remote and not is_loopback_host(self.host):
            raise ValueError(f"host {self.host!r} is not a loopback address; pass allow_remote=True to bind it anyway")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an integer in 0..65535, got {self.port!r}")
        if isinstance(self.qubits, bool) or not isinstance(self.qubits, int) or self.qubits < 1:
            raise ValueError(f"qubits must be a positive integer, got {self.qubits!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {self.layout!r}")
        if isinstance(self.extra_chips, str) or not isinstance(self.extra_chips, tuple):
            object.__setattr__(self, "extra_chips", tuple(_token_iter(self.extra_chips)))
        _check_chips(self.chips, self.alias)
        if not self.alias or "/" in self.alias:
            raise ValueError(f"alias must be a non-empty path segment, got {self.alias!r}")
        _check_uuid("qc_id", self.qc_id)
        _check_uuid("calibration_set_id", self.calibration_set_id)
        _check_non_negative("exec_time_per_circuit", self.exec_time_per_circuit)
        _check_non_negative("exec_time_per_shot", self.exec_time_per_shot)
        if not isinstance(self.rate_limit, RateLimitConfig):
            raise ValueError(
                "rate_limit must be a RateLimitConfig; use RateLimitConfig(enabled=False) to switch it off"
            )
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive integer, got {self.max_body_bytes!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        if isinstance(self.max_components, bool) or not isinstance(self.max_components, int) or self.max_components < 1:
            raise ValueError(f"max_components must be a positive integer, got {self.max_components!r}")
        if isinstance(self.max_shots, bool) or not isinstance(self.max_shots, int) or self.max_shots < 1:
            raise ValueError(f"max_shots must be a positive integer, got {self.max_shots!r}")
        if self.control_token is not None and (not isinstance(self.control_token, str) or not self.control_token):
            raise ValueError("control_token must be a non-empty string or None")
        if self.control_token is not None and self.control_token in self.tokens:
            raise ValueError("control_token must differ from every user token")
        if self.keep_finished_seconds is not None:
            _check_non_negative("keep_finished_seconds", self.keep_finished_seconds)
            if self.keep_finished_seconds == 0:
                raise ValueError("keep_finished_seconds must be positive (0 would evict results before they are read)")
        for name in ("keep_finished_jobs", "keep_finished_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        object.__setattr__(self, "noise", _normalize_noise(self.noise))
        if not isinstance(self.noise, str):
            aliases = {self.alias if name == CHIP_SIM else name for name in self.chips}
            unknown = sorted(a for a, _ in self.noise if a not in aliases)
            if unknown:
                raise ValueError(f"noise names quantum computers not served: {unknown}; served: {sorted(aliases)}")
        if self.request_log_size < 0:
            raise ValueError(f"request_log_size must be non-negative, got {self.request_log_size!r}")

    @property
    def chips(self) -> tuple[str, ...]:
        """Every chip served, the first one first."""
        return (self.chip, *self.extra_chips)

    def noise_for(self, alias: str) -> str:
        """Return the noise mode of one quantum computer."""
        if isinstance(self.noise, str):
            return self.noise
        return dict(self.noise).get(alias, "ideal")

    @property
    def auth_enabled(self) -> bool:
        """True when bearer tokens are checked."""
        return bool(self.tokens)


def _check_chips(chips: tuple[str, ...], alias: str) -> None:
    from ..devices.chips import chip_names

    known = chip_names()
    for name in chips:
        if name not in known:
            raise ValueError(f"unknown chip {name!r}; known chips: {list(known)}")
    aliases = [alias if name == CHIP_SIM else name for name in chips]
    if len(set(aliases)) != len(aliases):
        raise ValueError(f"every quantum computer needs its own alias, got {aliases}")


def _normalize_noise(noise: object) -> str | tuple[tuple[str, str], ...]:
    if isinstance(noise, str):
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be one of {list(NOISE_MODES)}, got {noise!r}")
        return noise
    pairs = list(noise.items()) if isinstance(noise, Mapping) else list(noise) if isinstance(noise, Iterable) else None
    if pairs is None:
        raise ValueError(f"noise must be a mode or a mapping of quantum computer to mode, got {noise!r}")
    out = []
    for pair in pairs:
        alias, mode = pair
        if mode not in NOISE_MODES:
            raise ValueError(f"noise for {alias!r} must be one of {list(NOISE_MODES)}, got {mode!r}")
        out.append((str(alias), str(mode)))
    return tuple(sorted(out))


def _token_iter(tokens: object) -> Iterable[str]:
    if isinstance(tokens, str):
        # A bare string would otherwise become a set of its characters.
        return (tokens,)
    if isinstance(tokens, Iterable):
        return tokens
    raise ValueError(f"tokens must be a collection of strings, got {tokens!r}")
