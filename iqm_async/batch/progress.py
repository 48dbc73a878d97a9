"""The batch's progress bar (tqdm, no monitor thread) and when to show it."""

from __future__ import annotations

import sys

from .outcomes import BatchCounts

__all__ = ["ProgressBar", "want_progress"]


class ProgressBar:
    """A tqdm bar of finished circuits with submitted / running / failed counts; no monitor thread."""

    def __init__(self, total: int, desc: str):
        from tqdm.auto import tqdm

        class _Bar(tqdm):  # type: ignore[misc]
            monitor_interval = 0  # tqdm's monitor is a thread; the core starts none

        self._bar = _Bar(total=total, desc=desc, unit="circ", dynamic_ncols=True, leave=True)

    def update(self, counts: BatchCounts, advance: int) -> None:
        """Show the counters and advance the bar by ``advance`` finished circuits."""
        self._bar.set_postfix_str(
            f"jobs={counts.jobs} submitted={counts.submitted} running={counts.running} "
            f"done={counts.done} failed={counts.failed}",
            refresh=False,
        )
        self._bar.update(advance)

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()


def want_progress(progress: bool | None) -> bool:
    """Return whether to show a bar: as asked, else in a notebook or when stderr is a terminal."""
    if progress is not None:
        return progress
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
