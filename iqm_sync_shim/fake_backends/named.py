"""IQM's named fake backends (Adonis, Apollo, Aphrodite, Deneb, Garnet) and ours for Emerald and Sirius.

Each is the chip shape the embedded server serves under that name (Adonis: IQM's 5-qubit star-shaped
crystal around QB3; Apollo: Garnet's 20-qubit layout; Aphrodite: Emerald's 54-qubit layout) with an error
profile fitted to the seeded calibration numbers of :mod:`iqm_async.devices.calibration_data`. For
``garnet``, ``emerald``, ``sirius`` and ``deneb`` those are exactly the numbers of the server's default
calibration set, so a fake and ``--noise calibrated`` on the same chip simulate the same noise; the
numbers differ from the tables IQM ships (they are drawn in the same published ranges, not copied).
"""

from __future__ import annotations

import uuid

from iqm_async.devices.calibration_data import synthetic_metrics
from iqm_async.devices.chips import ChipShape, chip

from .error_profile import IQMErrorProfile
from .fake_backend import IQMFakeBackend

__all__ = [
    "ADONIS",
    "IQMFakeAdonis",
    "IQMFakeAphrodite",
    "IQMFakeApollo",
    "IQMFakeDeneb",
    "IQMFakeEmerald",
    "IQMFakeGarnet",
    "IQMFakeSirius",
    "fake_from_shape",
]

_ADONIS_COUPLERS = (("QB1", "QB3"), ("QB2", "QB3"), ("QB3", "QB4"), ("QB3", "QB5"))
ADONIS = ChipShape(
    name="adonis",
    display_name="Adonis-shaped 5-qubit chip (simulated)",
    qubits=("QB1", "QB2", "QB3", "QB4", "QB5"),
    resonators=(),
    connectivity=_ADONIS_COUPLERS,
    cz_loci=_ADONIS_COUPLERS,
    dut_label="M138_W0_A22_Z99",
)
"""IQM's 5-qubit Adonis: QB3 in the middle, coupled to the other four."""


def fake_from_shape(
    shape: ChipShape, name: str, *, calibration_set_id: str | None = None, seed: int | None = None
) -> IQMFakeBackend:
    """Return a fake of ``shape`` with the seeded calibration numbers of one calibration set (default: the shape's)."""
    metrics = synthetic_metrics(shape, calibration_set_id)
    profile = IQMErrorProfile.from_metrics(metrics, name=shape.name)
    return IQMFakeBackend(shape.sqa(), profile, name=name, seed=seed)


def _other_specimen(shape: ChipShape, specimen: str) -> str:
    """Return the calibration set id that seeds another specimen of the same layout (Apollo vs Garnet)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"iqm-async/specimen/{specimen}/{shape.name}"))


def IQMFakeAdonis() -> IQMFakeBackend:
    """Return a fake of IQM's 5-qubit Adonis."""
    return fake_from_shape(ADONIS, "IQMFakeAdonisBackend")


def IQMFakeApollo() -> IQMFakeBackend:
    """Return a fake of IQM's 20-qubit Apollo (Garnet's layout, another specimen's numbers)."""
    return fake_from_shape(
        chip("garnet"), "IQMFakeApolloBackend", calibration_set_id=_other_specimen(chip("garnet"), "apollo")
    )


def IQMFakeAphrodite() -> IQMFakeBackend:
    """Return a fake of IQM's 54-qubit Aphrodite (Emerald's layout, another specimen's numbers)."""
    return fake_from_shape(
        chip("emerald"), "IQMFakeAphroditeBackend", calibration_set_id=_other_specimen(chip("emerald"), "aphrodite")
    )


def IQMFakeDeneb() -> IQMFakeBackend:
    """Return a fake of IQM's 6+1 star Deneb (the embedded server's ``deneb`` numbers)."""
    return fake_from_shape(chip("deneb"), "IQMFakeDenebBackend")


def IQMFakeGarnet() -> IQMFakeBackend:
    """Return a fake of IQM's 20-qubit Garnet (the embedded server's ``garnet`` numbers)."""
    return fake_from_shape(chip("garnet"), "IQMFakeGarnetBackend")


def IQMFakeEmerald() -> IQMFakeBackend:
    """Return a fake of IQM's 54-qubit Emerald (the embedded server's ``emerald`` numbers)."""
    return fake_from_shape(chip("emerald"), "IQMFakeEmeraldBackend")


def IQMFakeSirius() -> IQMFakeBackend:
    """Return a fake of IQM's 16+1 star Sirius (the embedded server's ``sirius`` numbers)."""
    return fake_from_shape(chip("sirius"), "IQMFakeSiriusBackend")
