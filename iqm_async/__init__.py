"""iqm-async: an async-first client for IQM quantum computers."""

from __future__ import annotations

__version__ = "0.1.0"
