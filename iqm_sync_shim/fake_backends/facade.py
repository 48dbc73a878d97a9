"""Facade backends (``get_backend("facade_garnet")``): the remote server validates and runs, the fake simulates.

As in IQM's adapter, a facade backend sends each job to the server (a mock environment such as the
embedded server, never a real machine: the job spends its time there), waits for it to succeed, discards
the server's results and returns a local simulation of the same circuits with the named fake's noise.
The server's chip must have the fake's layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from qiskit.circuit import QuantumCircuit
from qiskit.providers import QiskitBackendNotFoundError

from iqm_async.errors import ValidationError

from ..backend import IQMBackend
from .fake_backend import IQMFakeBackend, IQMFakeJob
from .named import (
    IQMFakeAdonis,
    IQMFakeAphrodite,
    IQMFakeApollo,
    IQMFakeDeneb,
    IQMFakeEmerald,
    IQMFakeGarnet,
    IQMFakeSirius,
)

if TYPE_CHECKING:
    from iqm_async.models import DynamicQuantumArchitecture

    from ..provider import IQMProvider

__all__ = ["FACADES", "IQMFacadeBackend", "facade_backend"]

FACADES: dict[str, Callable[[], IQMFakeBackend]] = {
    "facade_adonis": IQMFakeAdonis,
    "facade_apollo": IQMFakeApollo,
    "facade_aphrodite": IQMFakeAphrodite,
    "facade_deneb": IQMFakeDeneb,
    "facade_garnet": IQMFakeGarnet,
    "facade_emerald": IQMFakeEmerald,
    "facade_sirius": IQMFakeSirius,
}
"""Facade backend names (IQM's five and ours for Emerald and Sirius) and the fakes that simulate them."""

_FAKE_OPTIONS = ("shots", "seed_simulator", "heralding_mode")


class IQMFacadeBackend(IQMBackend):
    """A backend whose jobs run on the server (for validation) and whose results come from a local fake."""

    def __init__(
        self, provider: IQMProvider, architecture: DynamicQuantumArchitecture, *, name: str, fake: IQMFakeBackend
    ):
        super().__init__(provider, architecture, name=name)
        self.fake = fake
        """The fake backend that simulates the circuits."""

    def run(self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any) -> IQMFakeJob:
        """Run the job on the server, then return the fake's simulation of the same circuits.

        Raises:
            ValueError: a circuit has a classical register no measurement writes to (the fake could not
                tell its bits from the server's), as IQM's facade refuses.
            JobFailedError: the server's job failed.
        """
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        for circuit in circuits:
            written = {circuit.find_bit(c).registers[0][0] for inst in circuit.data for c in inst.clbits}
            if any(creg not in written for creg in circuit.cregs):
                raise ValidationError(
                    f"Circuit {circuit.name!r} has a classical register no measurement writes to; a facade "
                    "backend does not allow that (remove the unused register)."
                )
        remote = super().run(circuits, **options)
        remote.result()  # raises when the server's job failed; its numbers are discarded
        kept = {k: v for k, v in options.items() if k in _FAKE_OPTIONS}
        return self.fake.run(circuits, **kept)


def facade_backend(provider: IQMProvider, name: str, dqa: DynamicQuantumArchitecture, sqa: Any) -> IQMFacadeBackend:
    """Return the facade backend ``name`` for the provider's quantum computer, checking that the layouts match.

    Raises:
        QiskitBackendNotFoundError: for an unknown facade name, or a server chip of another layout.
    """
    factory = FACADES.get(name)
    if factory is None:
        raise QiskitBackendNotFoundError(f"Unknown facade backend {name!r}; known: {sorted(FACADES)}.")
    fake = factory()
    if not fake.validate_compatible_architecture(sqa):
        raise QiskitBackendNotFoundError(
            f"The server's quantum computer does not have the layout of {name!r}; serve that chip shape "
            f"(e.g. python -m iqm_async.server --chip {name.removeprefix('facade_')})."
        )
    return IQMFacadeBackend(provider, dqa, name=name, fake=fake)
