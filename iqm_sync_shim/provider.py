"""``IQMProvider``: connection settings, one shared async client, and backends.

Usage::

    from iqm_sync_shim import IQMProvider

    with IQMProvider("https://resonance.iqm.tech", quantum_computer="garnet") as provider:
        backend = provider.get_backend()
        job = backend.run(transpile(circuit, backend), shots=1000)
        print(job.result().get_counts())

Each provider owns one :class:`~iqm_async.AsyncIQMClient` (one connection pool, one request budget)
that all of its backends and jobs share. That client is created, used and closed **only on the
shim's portal loop** ("loop-bound httpx client"): the provider never touches it from
the caller's thread or loop. ``with IQMProvider(...)`` (or :meth:`IQMProvider.close`) closes it
deterministically; a provider that is never closed is closed at interpreter exit by the runner's
exit hook. No ``__del__`` does I/O.

After ``os.fork()`` the child cannot use the parent's loop or sockets, so on first use in the child
the provider quietly builds a new client on the child's own loop, leaving the parent's untouched.
"""

from __future__ import annotations

import os
import threading
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from qiskit.providers import QiskitBackendNotFoundError

from iqm_async import AsyncIQMClient, CalibrationMetrics
from iqm_async._auth import Secret
from iqm_async.errors import ClientClosedError, NotFoundError
from iqm_async.models import DynamicQuantumArchitecture
from iqm_async.validation import check_uuid

from ._runner import PortalRunner, get_runner

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime, timedelta

    from iqm_async.ledger import LedgerEntry, UsageReport

    from .backend import IQMBackend

__all__ = ["IQMProvider"]

_stale_clients: list[AsyncIQMClient] = []
"""Clients inherited from a parent process: kept referenced so that no finaliser touches the parent's sockets."""


class IQMProvider:
    """Provider of IQM backends: the drop-in for ``iqm.qiskit_iqm.IQMProvider``.

    The URL, quantum computer and token fall back to the same environment variables as IQM's client
    (``IQM_SERVER_URL``, ``IQM_QUANTUM_COMPUTER``, ``IQM_TOKEN`` / ``IQM_TOKENS_FILE``).

    Args:
        url: root URL of the IQM server (no path).
        token: bearer token (or ``tokens_file``, or the environment; at most one source).
        tokens_file: JSON file holding an ``access_token``.
        quantum_computer: alias of the quantum computer, when the server has more than one.
        client_options: further keyword arguments of :class:`~iqm_async.AsyncIQMClient`
            (``timeout``, ``retry``, ``poll``, ``rate_limit``, ``signature``, ``verify``).

    Raises:
        ClientConfigurationError: on a bad URL or token configuration (nothing is sent).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        tokens_file: str | os.PathLike[str] | None = None,
        quantum_computer: str | None = None,
        **client_options: Any,
    ):
        # Only a Secret is kept (vars(), pickles, tracebacks with locals never show the token).
        self._settings: dict[str, Any] = {
            "url": url,
            "token": None if token is None else Secret(token),
            "tokens_file": tokens_file,
            "quantum_computer": quantum_computer,
            **client_options,
        }
        del token
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._client: AsyncIQMClient | None = None
        self._client_runner: PortalRunner | None = None
        self._closed = False
        # Build the client now so that a bad URL or token fails here, not at the first get_backend().
        _, client = self._core()
        self.url: str = client.url
        """The validated root URL."""
        self.quantum_computer = quantum_computer
        """The quantum computer alias asked for (None: the server's only one)."""

    def __repr__(self) -> str:
        # getattr: a traceback rendered with locals may show a provider whose constructor failed half-way.
        state = "closed" if getattr(self, "_closed", False) else "open"
        url, qc = getattr(self, "url", None), getattr(self, "quantum_computer", None)
        return f"IQMProvider(url={url!r}, quantum_computer={qc!r}, {state})"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> IQMProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def close(self) -> None:
        """Close the shared client on the portal loop; idempotent. Backends and jobs of this provider stop working."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            client, runner = self._client, self._client_runner
            self._client = self._client_runner = None
        if client is None or runner is None:
            return
        runner.discard_resource(client)
        # Only the loop the client was made on may close it; a closed runner already closed it.
        if runner.pid == os.getpid() and not runner.closed and not client.is_closed:
            runner.run(client.aclose)

    # ------------------------------------------------------------------ the shared client

    async def _open_client(self) -> AsyncIQMClient:
        """Create and open the client; runs on the portal loop, which then owns its connection pool."""
        client = AsyncIQMClient(**self._settings)
        await client.__aenter__()
        return client

    def _core(self) -> tuple[PortalRunner, AsyncIQMClient]:
        """Return the process's runner and this provider's client on it, creating the client if needed.

        A new client is made on first use, after a fork (the runner changed) and after the runner
        was closed and replaced; the old one is never touched from here.
        """
        runner = get_runner()
        client = self._client
        if client is not None and self._client_runner is runner and not client.is_closed:
            return runner, client
        if self._pid != os.getpid():
            # Another thread of the parent may have held the lock at the moment of the fork.
            self._lock = threading.Lock()
            self._pid = os.getpid()
        with self._lock:
            if self._closed:
                raise ClientClosedError("This IQMProvider is closed; create a new one.")
            client = self._client
            if client is None or self._client_runner is not runner or client.is_closed:
                old_runner = self._client_runner
                if client is not None and old_runner is not None and old_runner.pid != os.getpid():
                    _stale_clients.append(client)
                client = runner.run(self._open_client)
                runner.add_resource(client)
                self._client, self._client_runner = client, runner
            return runner, client

    # ------------------------------------------------------------------ backends

    def get_backend(
        self,
        name: str | None = None,
        calibration_set_id: str | uuid.UUID | None = None,
        *,
        use_metrics: bool = False,
    ) -> IQMBackend:
        """Return the backend of the quantum computer, for the server's default or a given calibration set.

        The backend's transpilation target comes from that calibration set's dynamic quantum
        architecture, and every job it runs is sent with that calibration set's id.

        Args:
            name: optional backend name: the quantum computer's, or a facade backend (``facade_garnet``, …) whose
                jobs run on the server and whose results are simulated locally by the named fake.
            calibration_set_id: a calibration set UUID; None means the server's current default.
            use_metrics: read the calibration set's quality metrics (T1/T2, gate errors and durations) into
                the target, so that Qiskit's layout and routing prefer the better qubits and couplers.

        Raises:
            QiskitBackendNotFoundError: when ``name`` is not this provider's backend.
            NotFoundError: when the calibration set is unknown.
            MetricsNotAvailableError: when ``use_metrics`` is true and the server serves no quality metrics.
        """
        from .backend import IQMBackend

        calset = None if calibration_set_id is None else check_uuid(calibration_set_id, "calibration set id")
        runner, client = self._core()
        if name is not None and name.startswith("facade_"):
            # IQM's facade backends: the server validates and runs, a local fake simulates (needs qiskit-aer).
            from .fake_backends.facade import facade_backend

            dqa = runner.run(lambda c: c.dynamic_architecture(calset), client)
            return facade_backend(self, name, dqa, runner.run(lambda c: c.static_architecture(), client))
        dqa, backend_name = runner.run(_load_backend, client, calset)
        if name is not None and name != backend_name:
            raise QiskitBackendNotFoundError(f"No backend named {name!r}; this provider serves {backend_name!r}.")
        metrics = runner.run(_load_metrics, client, dqa.calibration_set_id) if use_metrics else None
        return IQMBackend(self, dqa, name=backend_name, use_default_calibration_set=calset is None, metrics=metrics)

    def backends(self, name: str | None = None, **filters: Any) -> list[IQMBackend]:
        """Return this provider's backends (one: its quantum computer's, for the default calibration set).

        Args:
            name: keep only the backend with this name.
            filters: Qiskit's backend filters, matched against backend attributes (e.g. ``num_qubits=20``).
        """
        backend = self.get_backend()
        if name is not None and backend.name != name:
            return []
        if any(getattr(backend, key, None) != value for key, value in filters.items()):
            return []
        return [backend]

    # ------------------------------------------------------------------ the job ledger

    def jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        since: datetime | date | timedelta | str | None = None,
        limit: int | None = None,
        refresh: bool = False,
    ) -> list[LedgerEntry]:
        """List this server's jobs from the job ledger (``ledger=`` / ``IQM_ASYNC_LEDGER``), newest first.

        See :meth:`iqm_async.AsyncIQMClient.jobs` for the filters; ``refresh=True`` re-reads unfinished jobs.
        """
        runner, client = self._core()
        return runner.run(
            lambda c: c.jobs(status=status, tags=tags, since=since, limit=limit, refresh=refresh), client
        )

    def usage(self, *, since: datetime | date | timedelta | str | None = None) -> UsageReport:
        """Sum the QPU seconds of this server's recorded jobs by quantum computer and tag (from the ledger)."""
        _, client = self._core()
        return client.usage(since=since)


async def _load_metrics(client: AsyncIQMClient, calset: str) -> CalibrationMetrics:
    """Fetch the quality metrics of the backend's calibration set (runs on the portal loop)."""
    from ._errors import MetricsNotAvailableError

    try:
        return await client.calibration_metrics(calset)
    except NotFoundError as exc:
        # The DQA of this very set was just read, so a 404 here means the server serves no metrics.
        raise MetricsNotAvailableError(
            f"use_metrics=True: the server serves no quality metrics for calibration set {calset} ({exc}). "
            "Call get_backend() without use_metrics; the target is then built from the calibrated gate loci."
        ) from exc


async def _load_backend(client: AsyncIQMClient, calset: str | None) -> tuple[DynamicQuantumArchitecture, str]:
    """Fetch what a backend is built from: the DQA and the backend name (runs on the portal loop)."""
    dqa = await client.dynamic_architecture(calset)
    return dqa, await client.backend_name()
