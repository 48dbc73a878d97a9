"""The batch's progress bar (tqdm, no monitor thread): circuits finished, job counts, its place in the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..progress import bar_class, want_progress
from .outcomes import BatchCounts

if TYPE_CHECKING:
    from ..models import JobData

__all__ = ["ProgressBar", "want_progress"]


class ProgressBar:
    """A tqdm bar of finished circuits with job counts: queued (and the head of the queue), running, done, failed.

    ``queued`` counts the batch's jobs last seen waiting in the server's queue; ``head`` is the smallest
    queue position among them (how many jobs are ahead of the batch's frontmost waiting job).
    """

    def __init__(self, total: int, desc: str, *, file: Any = None):
        self._bar = bar_class()(total=total, desc=desc, unit="circ", dynamic_ncols=True, leave=True, file=file)
        self._queued: dict[str, int | None] = {}
        self._counts: BatchCounts | None = None

    def seen(self, data: JobData) -> None:
        """Note a job's latest status and queue position; redraw the counters if the queue summary changed."""
        before = (self.queued, self.head)
        if data.status == "waiting":
            self._queued[data.id] = data.queue_position
        else:
            self._queued.pop(data.id, None)
        if self._counts is not None and (self.queued, self.head) != before:
            # Drawn at once: the queue changes rarely, and a job's move to the head is worth seeing.
            self._bar.set_postfix_str(self._postfix(self._counts), refresh=True)

    @property
    def queued(self) -> int:
        """How many of the batch's jobs were last seen waiting in the queue."""
        return len(self._queued)

    @property
    def head(self) -> int | None:
        """The smallest queue position among the batch's waiting jobs (None when none is known)."""
        positions = [p for p in self._queued.values() if p is not None]
        return min(positions) if positions else None

    def update(self, counts: BatchCounts, advance: int) -> None:
        """Show the counters and advance the bar by ``advance`` finished circuits."""
        self._counts = counts
        self._bar.set_postfix_str(self._postfix(counts), refresh=False)
        self._bar.update(advance)  # redraws at most every tqdm mininterval (0.1 s), even with no advance

    def _postfix(self, counts: BatchCounts) -> str:
        queue = f"queued={self.queued}"
        if self.head is not None:
            queue += f" (head at {self.head})"
        return (
            f"jobs={counts.jobs} submitted={counts.submitted} {queue} running={counts.running} "
            f"done={counts.done} failed={counts.failed}"
        )

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()
