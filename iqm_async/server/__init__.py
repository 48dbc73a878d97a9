"""Embedded IQM-compatible server: IQM Server API v1 over HTTP on loopback, circuits simulated with qiskit-aer.

Start one in-process with :func:`serve_in_thread`, or from a shell with ``python -m iqm_async.server``.
Needs the ``server`` extra (starlette, uvicorn, qiskit-aer).
"""

from __future__ import annotations

from .app import create_app
from .config import RateLimitConfig, ServerConfig
from .runner import RunningServer, serve_in_thread
from .state import ServerState

__all__ = ["RateLimitConfig", "RunningServer", "ServerConfig", "ServerState", "create_app", "serve_in_thread"]
