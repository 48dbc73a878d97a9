"""One request budget per client, shared by every request and every job (docs/protocol.md#rate-limits).

IQM Server charges units per request in a rolling window (reported: 2000 units per 10 s; a submit
costs 100, a status read 10) and blocks an account for 30 s once it overspends. The budget keeps a
local log of what this client spent and paces new requests so the window never goes over
``limit × (1 − low_water_fraction)``. It learns the real quota from ``RateLimit-Limit``, accounts for
other clients on the same account from ``RateLimit-Remaining``, and after a 429 holds *every* request
until ``Retry-After`` has passed, so one 429 never turns into a storm of them.

Until the first reply, it assumes IQM's documented quota; a reply without the headers means the
server does not rate-limit, and pacing switches off. The clock and sleep are injected for tests.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from ._config import RateLimitPolicy

__all__ = ["BudgetStats", "RequestBudget"]

DOCUMENTED_QUOTA = 2000
"""IQM's reported quota, assumed until the server says otherwise."""

_EDGE_MARGIN = 0.25
"""Seconds an entry is kept past the window, because the server stamps requests when they arrive."""


@dataclass
class BudgetStats:
    """What the budget did, for benchmarks and progress displays."""

    acquired: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    blocks: int = 0


class RequestBudget:
    """Paces requests so the client stays inside the server's rolling-window quota."""

    def __init__(
        self,
        policy: RateLimitPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ):
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._limit: int | None = DOCUMENTED_QUOTA if policy.enabled else None
        # Settled charges, dated by when their reply arrived (so in time order), and charges still in flight.
        self._log: deque[tuple[float, int]] = deque()
        self._inflight: dict[int, int] = {}
        self._next_token = 0
        self._spent = 0
        self._blocked_until = 0.0
        self._lock = anyio.Lock()
        self.stats = BudgetStats()

    @property
    def limit(self) -> int | None:
        """The quota being paced to, or None when pacing is off."""
        return self._limit

    @property
    def in_flight_units(self) -> int:
        """Units charged to requests admitted but not yet answered (already counted against the window)."""
        return sum(self._inflight.values())

    def _expire(self, now: float) -> None:
        horizon = now - self._policy.window_seconds - _EDGE_MARGIN
        while self._log and self._log[0][0] <= horizon:
            self._spent -= self._log.popleft()[1]

    def _ceiling(self) -> float:
        assert self._limit is not None
        return self._limit * (1.0 - self._policy.low_water_fraction)

    def delay_for(self, cost: int, now: float) -> float:
        """Seconds to wait before a request of ``cost`` units may go out (0 when it may go now)."""
        wait = max(0.0, self._blocked_until - now)
        if self._limit is None:
            return wait
        self._expire(now)
        ceiling = self._ceiling()
        if self._spent + cost <= ceiling or self._spent == 0:
            return wait
        # Find when enough old entries leave the window for this request to fit.
        freed = 0
        need = self._spent + cost - ceiling
        for stamp, units in self._log:
            freed += units
            if freed >= need:
                return max(wait, stamp + self._policy.window_seconds + _EDGE_MARGIN - now)
        return max(wait, self._policy.window_seconds)

    async def acquire(self, cost: int) -> int:
        """Wait until a request of ``cost`` units fits in the budget, charge it, and return its token.

        The charge counts as in flight until :meth:`settle` is called with the token when the reply (or
        the error) arrives: the server charges a request when it *arrives*, which can be later than
        this admission, so only a reply dates the charge safely.
        """
        async with self._lock:  # FIFO: requests are admitted in the order they asked
            now = self._clock()
            while True:
                delay = self.delay_for(cost, now)
                if delay <= 0:
                    break
                self.stats.waits += 1
                self.stats.waited_seconds += delay
                await self._sleep(delay)
                # Trust a completed sleep even if the clock says less time passed (an injected sleep,
                # or a coarse clock): otherwise the loop would spin until the clock catches up.
                now = max(self._clock(), now + delay)
            self.stats.acquired += 1
            self._next_token += 1
            if self._limit is not None:
                self._inflight[self._next_token] = cost
                self._spent += cost
            return self._next_token

    def settle(self, token: int) -> None:
        """Date the charge of ``token`` by now, when its reply arrived; it leaves the window from then on."""
        cost = self._inflight.pop(token, None)
        if cost is None:
            return
        when = self._clock()
        if self._log and self._log[-1][0] > when:
            when = self._log[-1][0]  # keep the log in time order even with a clock that steps back
        self._log.append((when, cost))

    def refund(self, token: int) -> None:
        """Take back the charge of ``token``: its request never reached the server (a refused connection).

        The server's quota counts requests that arrive; charging refused ones would leave the client
        waiting out a window the server never saw filled after an outage.
        """
        cost = self._inflight.pop(token, None)
        if cost is not None:
            self._spent = max(0, self._spent - cost)

    def observe(self, limit: str | None, remaining: str | None) -> None:
        """Update the budget from a reply's ``RateLimit-Limit`` and ``RateLimit-Remaining`` headers."""
        if not self._policy.enabled:
            return
        if limit is None:
            self._limit = None  # this server does not rate-limit
            self._log.clear()
            self._inflight.clear()
            self._spent = 0
            return
        try:
            new_limit = int(float(limit))
            left = int(float(remaining)) if remaining is not None else None
        except ValueError:
            return
        if new_limit <= 0:
            return
        self._limit = new_limit
        if left is None:
            return
        now = self._clock()
        self._expire(now)
        # Units the server counts that we did not log were spent by other clients of the account
        # (or by us before a restart): book them now so pacing leaves room for them.
        foreign = (new_limit - left) - self._spent
        if foreign > 0:
            self._log.append((now, foreign))
            self._spent += foreign

    def block(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (after a 429 with ``Retry-After``)."""
        self.stats.blocks += 1
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
