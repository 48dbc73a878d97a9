"""Batch fan-out: many circuits as jobs in flight within the server's rate limit, streamed, resumable.

Usage::

    async with client.run_batch(circuits, shots=1000, journal="sweep.jsonl") as batch:
        async for outcome in batch.as_completed():          # as soon as each job completes
            print(outcome.index, outcome.job_id, outcome.result().counts)

    results = await client.run_batch(circuits).results()     # run to completion, input order

**Shape.** Circuits are grouped into jobs (contiguous runs of ``circuits_per_job``, default
:data:`DEFAULT_CIRCUITS_PER_JOB`, cut further so no request body exceeds :data:`MAX_JOB_BODY_BYTES`).
All of them are converted and validated before anything is sent, so a bad circuit fails the batch up
front. At most ``max_in_flight`` jobs are under way at once (a ``CapacityLimiter`` token held from
before the submit until the job's results are in). Every request goes through the
client's one transport, so every job pays into the one request budget. The jobs of every batch on a
client are polled by one shared :class:`~iqm_async._scheduler.PollScheduler` (a min-heap of due
times): a job waiting on the server is an entry in that heap, not a task, and a few poll workers per
batch send whichever poll is due, so ten thousand jobs in flight cost memory for their data only.

**Lifetime (structured concurrency).** A :class:`Batch` is an async context manager that owns one task
group: entering it converts the circuits, writes the journal's spec and starts the submitters (up to
:data:`SUBMIT_CONCURRENCY`) and poll workers (:data:`POLL_WORKERS`); leaving it
waits until every item has an outcome, like any task group. If the body raises (or the surrounding
scope is cancelled), the local tasks are cancelled and the remote jobs are left running: giving up
the local wait never cancels a job; :meth:`Batch.cancel` does. :meth:`Batch.results` /
:meth:`Batch.outcomes` on a batch that was not entered run it to completion themselves.
:meth:`Batch.as_completed` needs the batch to be running (inside ``async with``), because an async
generator must not own a task group. No thread is started, no task outlives the ``async with``.

**Items.** Each job's task catches its own ``Exception`` (never ``BaseException``) into one
:class:`Outcome` per circuit (index, job id, value or error), so one failure never cancels its
siblings while cancellation still propagates. Nothing is ever turned into ``None``, and a failed
item is never submitted again automatically. A submit that has started is shielded from
cancellation until its job id is journaled, so an id the server assigned is never lost locally.

**Journal.** See :mod:`iqm_async._journal` for the JSONL format, the fsync per record and the crash
window. :meth:`Batch.resume` re-attaches to every recorded job without submitting anything; with the
original circuits passed again it submits only the groups that have no record at all.
"""

from ..errors import JournalError, NotSubmittedError
from .outcomes import BatchCounts, Outcome, assemble_results, describe_failures, single_experiment
from .plan import DEFAULT_CIRCUITS_PER_JOB, MAX_JOB_BODY_BYTES
from .run import Batch, scheduler_for

__all__ = [
    "DEFAULT_CIRCUITS_PER_JOB",
    "MAX_JOB_BODY_BYTES",
    "Batch",
    "BatchCounts",
    "JournalError",
    "NotSubmittedError",
    "Outcome",
    "assemble_results",
    "describe_failures",
    "scheduler_for",
    "single_experiment",
]
