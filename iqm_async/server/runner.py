"""Run the embedded server on loopback in a background thread (for tests, examples and benchmarks).

::

    with serve_in_thread(seed=7) as server:
        httpx.get(f"{server.url}/api/v1/quantum-computers")
        server.state.hold()                     # keep new jobs waiting
        server.state.faults.add({"action": "status", "status": 503})
        server.state.wait_for(lambda: server.state.store.queue_length == 0, timeout=5)

The socket is bound before uvicorn starts, so the port is known up front; readiness is a
:class:`threading.Event` set by uvicorn's startup, never a polling loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .config import ServerConfig
from .state import ServerState

__all__ = ["RunningServer", "bind_socket", "build_uvicorn_server", "serve_in_thread"]

_START_TIMEOUT = 30.0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a TCP socket to ``host:port`` (port 0 picks a free one) and return it, not yet listening."""
    address = "127.0.0.1" if host == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the listening
    # socket says so, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def url_for(sock: socket.socket) -> str:
    """Return the root URL (``http://host:port``) of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _UvicornServer(uvicorn.Server):
    """uvicorn's server with a readiness callback and, off the main thread, no signal handling."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None], *, handle_signals: bool):
        super().__init__(config)
        self._on_ready = on_ready
        self._handle_signals = handle_signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then report readiness."""
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install uvicorn's signal handlers only when asked to (never in a background thread)."""
        if self._handle_signals:
            with super().capture_signals():
                yield
        else:
            yield


def build_uvicorn_server(
    state: ServerState, on_ready: Callable[[], None], *, handle_signals: bool, configure_logging: bool
) -> uvicorn.Server:
    """Build the uvicorn server for one app state (pinned to h11, lifespan on, no access log)."""
    kwargs: dict[str, Any] = {} if configure_logging else {"log_config": None}
    config = uvicorn.Config(
        create_app(state=state),
        http="h11",
        ws="none",
        lifespan="on",
        loop="asyncio",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        # Longer than any client's idle-connection expiry (httpx: 5 s), so the client always closes an idle
        # connection first; otherwise a request sent just as the server closes it is lost in flight.
        timeout_keep_alive=75,
        **kwargs,
    )
    return _UvicornServer(config, on_ready, handle_signals=handle_signals)


class RunningServer:
    """A server running in a daemon thread; a context manager that stops it on exit."""

    def __init__(self, state: ServerState, server: uvicorn.Server, thread: threading.Thread, url: str):
        self.state = state
        """The in-process control object (store, faults, hold/release, reset, stats, wait_for)."""
        self.url = url
        """Root URL, ``http://127.0.0.1:PORT``."""
        self._server = server
        self._thread = thread

    @property
    def config(self) -> ServerConfig:
        """The configuration the server runs with."""
        return self.state.config

    @property
    def control_token(self) -> str | None:
        """The token that opens ``/_control`` over HTTP (None when the control API needs none)."""
        return self.state.config.control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """Headers for ``/_control`` requests: the control token as a bearer token, when there is one."""
        token = self.control_token
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def running(self) -> bool:
        """True until the server thread has ended."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and join its thread (idempotent)."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningServer {self.url} {'running' if self.running else 'stopped'}>"


def serve_in_thread(
    config: ServerConfig | None = None, *, clock: Callable[[], float] = time.monotonic, **overrides: Any
) -> RunningServer:
    """Start a server on loopback in a daemon thread and return once it accepts connections.

    A server with user ``tokens`` and no ``control_token`` gets a random control token here, so the
    caller (who holds the returned handle) can still use ``/_control`` over HTTP with
    :attr:`RunningServer.control_headers`, while no user token opens it.

    Args:
        config: Server settings; defaults to :class:`ServerConfig` ().
        clock: Time source of the rate limiter and of finished-job retention (tests inject one).
        **overrides: Fields of :class:`ServerConfig` to replace, e.g. ``seed=7`` or ``qubits=5``.

    Raises:
        RuntimeError: if the server did not start.
    """
    config = dataclasses.replace(config or ServerConfig(), **overrides)
    if config.tokens and config.control_token is None:
        config = dataclasses.replace(config, control_token=secrets.token_urlsafe(24))
    state = ServerState(config, clock=clock)
    sock = bind_socket(config.host, config.port)
    url = url_for(sock)
    ready = threading.Event()
    failure: list[BaseException] = []
    server = build_uvicorn_server(state, ready.set, handle_signals=False, configure_logging=False)

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from a failed lifespan included
            failure.append(exc)
        finally:
            sock.close()
            ready.set()

    thread = threading.Thread(target=run, name=f"iqm-server-{url}", daemon=True)
    thread.start()
    if not ready.wait(_START_TIMEOUT) or not server.started:
        server.should_exit = True
        thread.join(5)
        cause = failure[0] if failure else None
        raise RuntimeError(f"the embedded IQM server at {url} did not start") from cause
    return RunningServer(state, server, thread, url)
