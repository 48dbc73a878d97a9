"""Chip shapes of IQM's published quantum computers, shared by the embedded server and fake backends."""

from __future__ import annotations

from .chips import CHIPS, ChipShape, chip, chip_names, generic_chip

__all__ = ["CHIPS", "ChipShape", "chip", "chip_names", "generic_chip"]
