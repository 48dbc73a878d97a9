"""Progress bars: one tqdm line for a job's wait, when to show bars, and which tqdm bar fits (terminal or notebook).

A job's line shows its queue position while it waits, then the circuits done while it runs::

    job 5c0e1b52: queued, position 3 [00:12]
    job 5c0e1b52:  40%|████      | 4/10 circuits [00:02<00:03]

Bars are shown when asked (``progress=True``), or by default (``progress=None``) when stderr is a
terminal or the code runs in a Jupyter kernel; a default bar appears only once a wait has lasted
:data:`DEFAULT_DELAY` seconds, so quick jobs print nothing. In a notebook the widget bar is used when
``ipywidgets`` is installed, else the plain text bar (without tqdm's warning about it). No bar starts
tqdm's monitor thread. ``TQDM_DISABLE=1`` in the environment turns every bar off.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import JobData

__all__ = ["DEFAULT_DELAY", "JobProgress", "bar_class", "job_progress", "want_progress"]

DEFAULT_DELAY = 1.0
"""Seconds a wait lasts before a bar shown by default (``progress=None``) appears."""

_MISSING = (
    "Progress bars need tqdm, which iqm-async installs as a dependency, but it cannot be imported here ({error}). "
    'Install it with: pip install "tqdm>=4.66" (or pass progress=False).'
)


def in_notebook() -> bool:
    """Return whether this code runs in a Jupyter (IPython) kernel."""
    return "ipykernel" in sys.modules


def want_progress(progress: bool | None) -> bool:
    """Return whether to show a bar: as asked, else in a notebook or when stderr is a terminal."""
    if progress is not None:
        return progress
    if in_notebook():
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


_classes: dict[str, type[Any]] = {}


def bar_class() -> type[Any]:
    """Return the tqdm class to use: the notebook widget bar in a kernel with ipywidgets, else the plain bar.

    Raises:
        ImportError: tqdm is not installed; the message says how to install it.
    """
    notebook = in_notebook() and importlib.util.find_spec("ipywidgets") is not None
    key = "notebook" if notebook else "plain"
    if key in _classes:
        return _classes[key]
    try:
        if notebook:
            from tqdm.notebook import tqdm as base
        else:
            from tqdm.std import tqdm as base
    except ImportError as exc:
        raise ImportError(_MISSING.format(error=exc)) from exc

    class _Bar(base):  # type: ignore[misc]
        monitor_interval = 0  # tqdm's monitor is a thread; the core starts none

    _classes[key] = _Bar
    return _Bar


_WAITING = "{desc} [{elapsed}]"
_RUNNING = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} circuits [{elapsed}<{remaining}]"


class JobProgress:
    """One tqdm line for one job's wait: its queue position while waiting, then circuits done while processing.

    The bar is created at the first update at least ``delay`` seconds after this object, so a quick
    wait prints nothing. Feed it every :class:`~iqm_async.models.JobData` seen; :meth:`close` when done.

    Args:
        job_id: the job's id (its first 8 characters name the line).
        delay: seconds before the line may appear.
        file: where to write (default: tqdm's, stderr).
        clock: monotonic clock for ``delay``.
    """

    def __init__(
        self,
        job_id: str,
        *,
        delay: float = 0.0,
        file: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._cls = bar_class()  # fails now, with the install hint, rather than in the middle of a wait
        self._name = f"job {job_id[:8]}"
        self._clock = clock
        self._show_after = clock() + delay
        self._file = file
        self._bar: Any = None
        self._total: int | None = None

    @property
    def bar(self) -> Any:
        """The tqdm bar, once it has appeared (None before)."""
        return self._bar

    def update(self, data: JobData) -> None:
        """Show what ``data`` says about the job."""
        if self._bar is None and self._clock() < self._show_after:
            return
        status = data.status
        progress = data.progress if status in ("processing", "completed") else None
        if status == "completed" and progress is None and self._total is not None:
            progress = (self._total, self._total)
        if progress is not None:
            self._circuits(*progress)
        elif status == "waiting":
            position = data.queue_position
            self._text("queued" if position is None else f"queued, position {position}")
        else:  # processing without progress, failed, cancelled, or a status this client does not know
            self._text(status)

    def _text(self, state: str) -> None:
        text = f"{self._name}: {state}"
        if self._bar is None:
            self._bar = self._cls(total=None, desc=text, bar_format=_WAITING, leave=True, file=self._file)
            return
        if self._total is not None:  # back to a text line (e.g. failed while running)
            self._total = None
            self._bar.bar_format = _WAITING
        self._bar.set_description_str(text, refresh=True)

    def _circuits(self, done: int, total: int) -> None:
        if self._bar is None:
            self._total = total
            self._bar = self._cls(
                total=total, initial=done, desc=self._name, bar_format=_RUNNING, leave=True, file=self._file
            )
            return
        bar = self._bar
        if self._total != total:
            # The run starts: a bar of circuits whose clock starts now, so its rate and ETA are the run's own.
            self._total = total
            bar.bar_format = _RUNNING
            bar.set_description_str(self._name, refresh=False)
            bar.reset(total=total)
        if done > bar.n:
            bar.update(done - bar.n)
        bar.refresh()

    def close(self) -> None:
        """Leave the line as it is (a finished job's last state) and end the bar."""
        if self._bar is not None:
            self._bar.close()


class _NoProgress:
    """Stands in for :class:`JobProgress` when no bar is wanted."""

    def update(self, data: JobData) -> None:
        """Do nothing."""


@contextmanager
def job_progress(
    job_id: str, progress: bool | None, initial: JobData | None = None
) -> Iterator[JobProgress | _NoProgress]:
    """Yield a :class:`JobProgress` for a wait (``initial`` shown at once), or a stand-in when none is wanted.

    ``progress``: ``True`` shows the line at once, ``None`` only on a terminal or in a notebook and after
    :data:`DEFAULT_DELAY` seconds, ``False`` never. A job already final shows nothing.
    """
    if not want_progress(progress) or (initial is not None and initial.is_final):
        yield _NoProgress()
        return
    try:
        bar = JobProgress(job_id, delay=0.0 if progress else DEFAULT_DELAY)
    except ImportError:
        if progress:
            raise
        yield _NoProgress()  # shown by default only: a missing tqdm costs the bar, never the wait
        return
    try:
        if initial is not None:
            bar.update(initial)
        yield bar
    finally:
        bar.close()
