"""``IQMFakeBackend``: a chip and an error profile simulated locally with Aer, returning the real backend's ``Result``.

A fake validates circuits as the server does on submit and simulates them with the embedded server's
executor and noise models (:class:`iqm_async.server.local.LocalSimulator`), so the same user code runs
on a fake, on a noisy embedded server and on a real machine, and fake and server agree within shot
noise on the same numbers. Needs qiskit-aer (the ``server`` extra).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, JobStatus, JobV1, Options
from qiskit.result import Result
from qiskit.transpiler import Target

import iqm_async
from iqm_async._config import DEFAULT_SHOTS
from iqm_async.calibration import CalibrationMetrics
from iqm_async.errors import ValidationError
from iqm_async.models import (
    CircuitJobDefinition,
    DynamicQuantumArchitecture,
    GateInfo,
    JobParameters,
    StaticQuantumArchitecture,
)
from iqm_async.qiskit_convert import circuit_to_wire, qubit_names, registers_of
from iqm_async.qiskit_result import build_result, format_job
from iqm_async.transpiler import DEFAULT_PLUGIN, IQMTarget, build_target
from iqm_async.transpiler.calibrated import apply_metrics

from .error_profile import IQMErrorProfile, _loci

__all__ = ["IQMFakeBackend", "IQMFakeJob"]

_IMPLEMENTATIONS = {"prx": "drag_gaussian", "cc_prx": "prx_composite", "cz": "tgss", "move": "tgss_crf"}


def _dqa_of(
    sqa: StaticQuantumArchitecture, profile: IQMErrorProfile, calibration_set_id: str | None = None
) -> DynamicQuantumArchitecture:
    """Build the DQA a fake runs with: the profile's gate loci, ``measure``/``cc_prx`` on every qubit."""
    loci = dict(_loci(profile))
    single = tuple((q,) for q in sqa.qubits)
    loci.setdefault("prx", list(single))
    loci["cc_prx"] = list(single)
    loci["measure"] = list(single)
    gates = {
        name: GateInfo(
            implementations={_IMPLEMENTATIONS.get(name, "constant"): tuple(tuple(x) for x in these)},
            default_implementation=_IMPLEMENTATIONS.get(name, "constant"),
        )
        for name, these in loci.items()
    }
    return DynamicQuantumArchitecture(
        calibration_set_id=calibration_set_id
        or str(uuid.uuid5(uuid.NAMESPACE_URL, f"iqm-fake/{profile.name}/{sqa.dut_label}")),
        qubits=tuple(sqa.qubits),
        computational_resonators=tuple(sqa.computational_resonators),
        gates=gates,
    )


def _check(sqa: StaticQuantumArchitecture, profile: IQMErrorProfile) -> None:
    """Refuse a profile that does not describe the architecture (as IQM's adapter does)."""
    components = set(sqa.qubits) | set(sqa.computational_resonators)
    problems = []
    for what, names in (("t1s", set(profile.t1s)), ("t2s", set(profile.t2s))):
        if not set(sqa.qubits) <= names <= components:
            problems.append(f"{what} covers {sorted(names)}, not the qubits {sorted(sqa.qubits)}")
    if set(profile.readout_errors) != set(sqa.qubits):
        problems.append(f"readout_errors covers {sorted(profile.readout_errors)}, not the qubits")
    couplers = {frozenset(c) for c in sqa.connectivity}
    for gate, pairs in profile.two_qubit_gate_depolarizing_error_parameters.items():
        extra = [p for p in pairs if frozenset(p) not in couplers]
        if extra:
            problems.append(f"{gate} loci {extra} are not couplers of the architecture")
        if gate not in profile.two_qubit_gate_durations:
            problems.append(f"no duration for {gate}")
    for gate in profile.single_qubit_gate_depolarizing_error_parameters:
        if gate not in profile.single_qubit_gate_durations:
            problems.append(f"no duration for {gate}")
    if problems:
        raise ValidationError("The error profile does not match the architecture: " + "; ".join(problems))


class IQMFakeJob(JobV1):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A finished local run: ``result()`` returns at once."""

    def __init__(self, backend: IQMFakeBackend, job_id: str, result: Result):
        super().__init__(backend, job_id)
        self._result = result

    def submit(self) -> None:
        """Do nothing: the circuits ran when the job was made."""

    def result(self) -> Result:
        """Return the ``Result`` (the real backend's format)."""
        return self._result

    def status(self) -> JobStatus:
        """Return ``DONE``."""
        return JobStatus.DONE


class IQMFakeBackend(BackendV2):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A simulated IQM QPU specimen: its architecture, its error profile, and Aer.

    Args:
        architecture: the chip (``iqm_async.models.StaticQuantumArchitecture``).
        error_profile: the specimen's numbers.
        name: the backend name.
        seed: base seed of the simulation; None draws one (a ``seed_simulator`` run option overrides it).
        calibration_set_id: the calibration set the profile stands for (results report it); None: a fixed
            id derived from the profile's name and the chip.
    """

    def __init__(
        self,
        architecture: StaticQuantumArchitecture,
        error_profile: IQMErrorProfile,
        name: str = "IQMFakeBackend",
        *,
        seed: int | None = None,
        calibration_set_id: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, description=f"Simulated IQM QPU {name!r}", backend_version=iqm_async.__version__)
        _check(architecture, error_profile)
        self._sqa = architecture
        self._profile = error_profile
        self._seed = seed
        self.architecture = _dqa_of(architecture, error_profile, calibration_set_id)
        """The dynamic quantum architecture circuits are validated against."""
        self._names = qubit_names(self.architecture)
        self._rebuild()
        if kwargs:
            self.set_options(**kwargs)

    def _rebuild(self) -> None:
        from iqm_async.server.local import LocalSimulator
        from iqm_async.server.noisy import JobNoise

        self.metrics: CalibrationMetrics = self._profile.to_metrics(self.architecture.calibration_set_id)
        """The profile as calibration numbers (what the target's properties carry)."""
        self._target = apply_metrics(build_target(self.architecture, self._names), self.metrics)
        loci = {name: info.loci for name, info in self.architecture.gates.items()}
        noise = JobNoise(self._profile.to_noise_spec(), loci)
        self._simulator = LocalSimulator(self.architecture, noise, seed=self._seed)

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=DEFAULT_SHOTS, seed_simulator=None, heralding_mode="none")

    @property
    def target(self) -> Target:
        """The calibration-aware transpilation target (qubit-only on star chips)."""
        return self._target

    @property
    def max_circuits(self) -> int | None:
        """No limit."""
        return None

    @property
    def error_profile(self) -> IQMErrorProfile:
        """The specimen's numbers; setting a new profile rebuilds target and noise."""
        return self._profile

    @error_profile.setter
    def error_profile(self, value: IQMErrorProfile) -> None:
        _check(self._sqa, value)
        self._profile = value
        self._rebuild()

    def copy_with_error_profile(self, new_error_profile: IQMErrorProfile) -> IQMFakeBackend:
        """Return a fake of the same chip with another error profile."""
        return self.__class__(
            self._sqa,
            new_error_profile,
            name=self.name,
            seed=self._seed,
            calibration_set_id=self.architecture.calibration_set_id,
        )

    def validate_compatible_architecture(self, architecture: StaticQuantumArchitecture) -> bool:
        """Tell whether ``architecture`` has this fake's components and couplers."""
        return (
            set(architecture.qubits) == set(self._sqa.qubits)
            and set(architecture.computational_resonators) == set(self._sqa.computational_resonators)
            and {frozenset(c) for c in architecture.connectivity} == {frozenset(c) for c in self._sqa.connectivity}
        )

    @property
    def physical_qubits(self) -> list[str]:
        """Component name of each Qiskit index."""
        return list(self._names)

    def qubit_name_to_index(self, name: str) -> int:
        """Return the Qiskit index of a component."""
        return self._names.index(name)

    def index_to_qubit_name(self, index: int) -> str:
        """Return the component at a Qiskit index."""
        return self._names[index]

    def get_scheduling_stage_plugin(self) -> str:
        """Return the scheduling plugin ``transpile`` should use (as the real backend)."""
        return DEFAULT_PLUGIN

    def get_real_target(self) -> IQMTarget:
        """Return the target of what the chip runs: resonators included, no qubit–qubit ``cz`` through them."""
        target = build_target(self.architecture, self._names, include_resonators=True, include_fictional_czs=False)
        return apply_metrics(target, self.metrics)

    def run(self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any) -> IQMFakeJob:
        """Simulate transpiled circuits with the profile's noise; the job is done when this returns.

        Options: ``shots``, ``seed_simulator`` (reproducible outcomes), ``heralding_mode`` (``"zeros"``
        drops shots whose heralding readout was not 0).

        Raises:
            ValueError: for an empty list of circuits.
            iqm_async.ValidationError: a circuit is not transpiled for this backend.
        """
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        if not circuits:
            raise ValidationError("Empty list of circuits submitted for execution.")
        merged = {**self.options.__dict__, **options}
        shots = int(merged.get("shots") or DEFAULT_SHOTS)
        parameters = JobParameters(shots=shots, heralding_mode=merged.get("heralding_mode") or "none")
        wire = tuple(circuit_to_wire(c, self._names) for c in circuits)
        definition = CircuitJobDefinition(circuits=wire, parameters=parameters)
        simulator = self._simulator
        seed = merged.get("seed_simulator")
        if seed is not None:
            from iqm_async.server.local import LocalSimulator

            simulator = LocalSimulator(self.architecture, self._simulator.noise, seed=int(seed))
        measurements = simulator.run(definition)
        formatted = format_job(measurements, parameters, [registers_of(c) for c in circuits])
        job_id = str(uuid.uuid4())
        result = build_result(
            backend_name=self.name,
            job_id=job_id,
            circuits=wire,
            parameters=parameters,
            formatted=formatted,
            calibration_set_id=self.architecture.calibration_set_id,
            timeline=(),
        )
        return IQMFakeJob(self, job_id, result)

    @classmethod
    def from_calibration(cls, backend: Any, *, name: str | None = None, seed: int | None = None) -> IQMFakeBackend:
        """Build a fake from a live (or embedded) server's calibration: rehearse on today's numbers, offline.

        Args:
            backend: a facade ``IQMBackend`` (its metrics are read from the server when it was made without
                ``use_metrics=True``), or an ``iqm_async.CalibrationMetrics`` with a ``dqa=`` of its own.
            name: the fake's name (default: ``fake_<backend name>``).
            seed: base seed of the simulation.
        """
        metrics = getattr(backend, "metrics", None)
        dqa: DynamicQuantumArchitecture = backend.architecture
        if metrics is None:
            metrics = backend.call_core(lambda c: c.calibration_metrics(str(dqa.calibration_set_id)))
        sqa = _sqa_of(dqa, metrics)
        profile = IQMErrorProfile.from_metrics(metrics, name=f"calibration set {metrics.calibration_set_id}")
        return cls(
            sqa, profile, name=name or f"fake_{backend.name}", seed=seed, calibration_set_id=metrics.calibration_set_id
        )


def _sqa_of(dqa: Any, metrics: CalibrationMetrics) -> StaticQuantumArchitecture:
    """Return the chip layout a DQA implies: every component, and each two-component gate locus as a coupler."""
    couplers: dict[frozenset[str], tuple[str, ...]] = {}
    for info in dqa.gates.values():
        for locus in info.loci:
            if len(locus) == 2:
                couplers.setdefault(frozenset(locus), tuple(locus))
    return StaticQuantumArchitecture(
        qubits=tuple(dqa.qubits),
        computational_resonators=tuple(dqa.computational_resonators),
        connectivity=tuple(couplers.values()),
        dut_label=metrics.dut_label,
    )
