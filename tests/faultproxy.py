"""A small TCP fault proxy between a client and the embedded server, for failures the server's switchboard cannot make.

The switchboard (``/_control/faults``) fails requests from inside the server. Some failures only happen
in front of a server: a port that refuses connections, a gateway answering ``502`` with an HTML page, a
path that swallows requests and never answers, a server replaced by a fresh one that forgot every job.
:class:`FaultProxy` listens on a loopback port of its own and, depending on :attr:`FaultProxy.mode`:

* ``"forward"``: pipes bytes both ways to the upstream server;
* ``"refuse"``: stops listening, so connections are refused by the kernel (nothing reaches anyone);
* ``"html502"``: reads each request and answers ``502 Bad Gateway`` with an HTML page, then closes;
* ``"blackhole"``: accepts and reads, never answers (until the mode changes, then closes);
* ``"reset"``: reads the request, then resets the connection (RST).

Changing the mode closes the client's open connections, so keep-alive connections see the new mode at
once: idle ones at once, ones with a request under way right after its reply has passed (a gateway that
starts failing does not cut the exchanges it is carrying). ``refuse`` resets every connection at once,
as a crashed server does. :meth:`FaultProxy.set_upstream` points the proxy at another server (a "restart" with fresh
state). The proxy runs its own asyncio loop in a daemon thread; every method is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Literal

Mode = Literal["forward", "refuse", "html502", "blackhole", "reset"]

HTML_502 = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center>\n"
    + b"<!-- padding so the page is as long as a real gateway's -->\n" * 8
    + b"</body></html>\n"
)


class FaultProxy:
    """A loopback TCP proxy whose behaviour is switched at run time (see the module docstring)."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.mode: Mode = "forward"
        self.seen: Counter[str] = Counter()
        """Connections accepted, by the mode they met (``refuse`` is never counted: nothing is accepted)."""
        self.requests: list[tuple[str, str]] = []
        """``(mode, "METHOD /path")`` of every request a failure mode read (forwarded ones are not parsed)."""
        self.changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._busy: dict[asyncio.StreamWriter, bool] = {}
        """Forwarded client connections -> True while a request is under way (sent, reply not yet back)."""
        self._closing: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._sock.close()
        self._thread.start()
        self._ready.wait()
        self._call(self._listen())

    @property
    def url(self) -> str:
        """The proxy's root URL, to give to the client instead of the server's."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------------------------------ control

    def set_mode(self, mode: Mode) -> None:
        """Switch behaviour; open connections are closed so the client meets the new mode at once."""
        self._call(self._switch(mode))

    def set_upstream(self, upstream: tuple[str, int]) -> None:
        """Send new connections to another server (open ones are closed)."""
        self.upstream = upstream
        self._call(self._switch(self.mode))

    def wait_seen(self, mode: str, count: int, timeout: float = 60.0) -> None:
        """Block until ``count`` connections have met ``mode`` (an event to wait on, not a sleep)."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.seen[mode] >= count, timeout):
                raise TimeoutError(f"the proxy saw {self.seen[mode]} {mode!r} connections, expected {count}")

    @contextlib.contextmanager
    def outage(self, mode: Mode) -> Iterator[FaultProxy]:
        """``with proxy.outage("refuse"): ...``: the mode inside the block, ``forward`` after it."""
        self.set_mode(mode)
        try:
            yield self
        finally:
            self.set_mode("forward")

    def close(self) -> None:
        """Stop listening, close every connection and stop the proxy's thread."""
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # ------------------------------------------------------------------------------------------ inside

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    def _call(self, coro: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(timeout=30)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _switch(self, mode: Mode) -> None:
        self.mode = mode
        for writer in list(self._writers):
            if mode != "refuse" and self._busy.get(writer):
                self._closing.add(writer)  # closed as soon as its reply has passed
                continue
            _abort(writer)
            self._writers.discard(writer)
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
        else:
            await self._listen()

    async def _shutdown(self) -> None:
        await self._switch("refuse")
        # Aborted connections end their handlers by themselves; only stragglers are cancelled (cancelling
        # stream callbacks logs a traceback each on some Python versions).
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for writer in list(self._writers):  # a handler cancelled before its finally: close what it held
            _abort(writer)
        self._writers.clear()
        # A closed transport releases its socket in a callback of the loop's next turns: let them run before
        # the loop stops, or the socket is only released (with a ResourceWarning) by the garbage collector.
        for _ in range(5):
            await asyncio.sleep(0)

    def _count(self, mode: str) -> None:
        with self.changed:
            self.seen[mode] += 1
            self.changed.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        self._writers.add(writer)
        self._count(mode)
        try:
            if mode == "forward":
                await self._pipe(reader, writer)
                return
            self.requests.append((mode, await _read_request(reader)))
            if mode == "html502":
                writer.write(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n"
                    + f"Content-Length: {len(HTML_502)}\r\n\r\n".encode()
                    + HTML_502
                )
                await writer.drain()
                writer.close()
            elif mode == "reset":
                _abort(writer)
            elif mode == "blackhole":
                await reader.read()  # returns when the client gives up or the mode changes
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            await _closed(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)
            return
        self._busy[writer] = False
        replies = _ReplyTracker()

        async def to_server() -> None:
            try:
                while data := await reader.read(65536):
                    self._busy[writer] = True
                    up_writer.write(data)
                    await up_writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                if not up_writer.is_closing():
                    up_writer.close()

        async def to_client() -> None:
            try:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                    if replies.feed(data):
                        self._busy[writer] = False
                        if writer in self._closing:
                            break
            except (ConnectionError, OSError):
                pass
            finally:
                if not writer.is_closing():
                    writer.close()
                if not up_writer.is_closing():
                    up_writer.close()

        try:
            await asyncio.gather(to_server(), to_client())
        finally:
            self._busy.pop(writer, None)
            self._closing.discard(writer)
            await _closed(up_writer)  # the handler ends only once its sockets are really closed


async def _read_request(reader: asyncio.StreamReader) -> str:
    """Read one HTTP/1.1 request (headers and a Content-Length body); return its ``METHOD /path``."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = _content_length(head)
    if length:
        await reader.readexactly(length)
    method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
    return f"{method} {rest.split(' ', 1)[0]}"


def _content_length(head: bytes) -> int:
    """The ``Content-Length`` of an HTTP/1.1 head (0 when there is none)."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class _ReplyTracker:
    """Follows the replies passing on one connection, to tell when the last one has passed in full."""

    def __init__(self) -> None:
        self._head = b""
        self._left: int | None = None  # body bytes still to come; None while reading a head

    def feed(self, data: bytes) -> bool:
        """Take the next bytes from the server; True if a reply ended exactly with them."""
        done = False
        while data:
            if self._left is None:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    return False
                head, data = self._head[: end + 4], self._head[end + 4 :]
                self._head = b""
                self._left = _content_length(head)
            take = min(self._left, len(data))
            self._left -= take
            data = data[take:]
            if self._left == 0:
                self._left = None
                done = not data
        return done


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Close ``writer`` (if not yet) and wait until its socket is released."""
    if not writer.is_closing():
        writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a crashed or restarted peer does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    transport.abort()
