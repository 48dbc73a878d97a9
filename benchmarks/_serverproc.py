"""The embedded server in its own process for the benchmarks, as a real server runs, and its control endpoints."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def server_process(*flags: str) -> Iterator[str]:
    """Run ``python -m iqm_async.server`` with ``flags`` (every default otherwise); yield its URL."""
    command = [sys.executable, "-m", "iqm_async.server", *flags]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://\S+", line)
        assert found, line
        yield found.group(0)
    finally:
        proc.terminate()
        proc.wait(30)


def control(url: str, what: str, method: str = "GET") -> Any:
    """Call one of the server's loopback control endpoints; return its JSON (None for an empty reply)."""
    response = httpx.request(method, f"{url}/_control/{what}", timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None
