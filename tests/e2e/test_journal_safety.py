"""The batch journal is a safe record: bounded reading, one process at a time, and a failed write stops the batch.

Each failure was reproduced first: a hostile spec line exhausted memory, two concurrent resumes created jobs
twice, and a full disk let a batch go on creating jobs the journal did not know (with bare ``OSError``\\ s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iqm_async import AsyncIQMClient
from iqm_async._journal import Journal
from iqm_async.batch.workers import SUBMIT_CONCURRENCY
from iqm_async.errors import JournalError
from iqm_async.server import RunningServer
from tests.helpers import pattern


async def test_a_hostile_groups_spec_is_refused_before_it_is_expanded(tmp_path: Path, server: RunningServer) -> None:
    journal = tmp_path / "hostile.jsonl"
    spec = {"type": "spec", "version": 1, "url": server.url, "circuits": 100_000_000, "groups": [[1, 100_000_000]]}
    journal.write_text(json.dumps(spec) + "\n")
    async with AsyncIQMClient(server.url) as client:
        with pytest.raises(JournalError, match="more than a journal can hold"):
            await client.resume_batch(journal, progress=False).outcomes()
    journal.write_text(json.dumps({**spec, "circuits": 5, "groups": [[1, 3]]}) + "\n")
    async with AsyncIQMClient(server.url) as client:
        with pytest.raises(JournalError, match="cover 3 circuits"):
            await client.resume_batch(journal, progress=False).outcomes()


async def test_a_journal_in_use_cannot_be_resumed_a_second_time(tmp_path: Path, server: RunningServer) -> None:
    journal = tmp_path / "j.jsonl"
    circuits = [pattern(i) for i in range(4)]
    async with AsyncIQMClient(server.url) as client:
        await client.run_batch(circuits, shots=8, circuits_per_job=1, journal=journal, progress=False).results()
    created = len([r for r in server.state.requests() if r.method == "POST"])
    holder = Journal(journal, create=False)  # another process (or task) is resuming this batch
    try:
        async with AsyncIQMClient(server.url) as client:
            with pytest.raises(JournalError, match="in use by another process"):
                await client.resume_batch(journal, circuits=circuits, progress=False).outcomes()
    finally:
        holder.close()
    async with AsyncIQMClient(server.url) as client:
        results = await client.resume_batch(journal, circuits=circuits, progress=False).results()
    assert len(results) == 4
    assert len([r for r in server.state.requests() if r.method == "POST"]) == created  # nothing submitted twice


_CHILD = textwrap.dedent(
    """
    import asyncio, json, resource, signal, sys
    sys.path.insert(0, {root!r})
    from iqm_async import AsyncIQMClient
    from iqm_async.errors import JournalError
    from tests.helpers import pattern

    async def main():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        async with AsyncIQMClient({url!r}) as client:
            batch = client.run_batch([pattern(i) for i in range(12)], shots=4, circuits_per_job=1,
                                     journal={journal!r}, progress=False, max_in_flight=12)
            try:
                await batch.results()
            except JournalError as exc:
                print(json.dumps({{"error": type(exc).__name__, "job_ids": exc.job_ids,
                                   "unrecorded": exc.unrecorded_job_ids, "message": str(exc)}}))
                return
            print(json.dumps({{"error": None}}))

    asyncio.run(main())
    """
)


def test_a_full_disk_stops_the_batch_and_names_every_job(tmp_path: Path, server: RunningServer) -> None:
    journal = tmp_path / "full.jsonl"
    root = str(Path(__file__).resolve().parents[2])
    # Room for the spec and about two job records, then the "disk" is full.
    code = _CHILD.format(root=root, limit=1200, url=server.url, journal=str(journal))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["error"] == "JournalError", report
    created = [r for r in server.state.requests() if r.method == "POST"]
    # Every job the server created is named in the error, the journal plus the unrecorded ones are exactly
    # those jobs, and no submit started after the failure (at most the ones already on the wire finished).
    assert len(report["job_ids"]) == len(created)
    recorded = [json.loads(line)["job_id"] for line in journal.read_text().splitlines() if '"type":"job"' in line]
    assert report["unrecorded"] and set(recorded) | set(report["unrecorded"]) == set(report["job_ids"])
    assert len(created) <= len(recorded) + SUBMIT_CONCURRENCY
    assert "keep running" in report["message"]


_READONLY_CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys
    sys.path.insert(0, {root!r})
    sys.dont_write_bytecode = True
    from iqm_async import AsyncIQMClient

    async def main():
        async with AsyncIQMClient({url!r}) as client:
            await client.quantum_computers()  # every module the client loads lazily is loaded now
            if os.getuid() == 0:
                # Root ignores file modes: from here on this process is nobody, as an ordinary user would be.
                os.setgid(65534)
                os.setuid(65534)
            batch = client.resume_batch({journal!r}, progress=False)
            async with batch:
                results = await batch.results()
        print(json.dumps([r.counts for r in results]))

    asyncio.run(main())
    """
)


async def test_a_finished_journal_in_a_read_only_place_still_gives_its_results(server: RunningServer) -> None:
    """Results are collected from a journal whose file and folder cannot be written (by an ordinary user)."""
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="iqm-readonly-"))
    journal = folder / "done.jsonl"
    try:
        async with AsyncIQMClient(server.url) as client:
            batch = client.run_batch([pattern(i) for i in range(3)], shots=4, journal=journal, progress=False)
            async with batch:
                expected = [r.counts for r in await batch.results()]
        journal.chmod(0o444)
        folder.chmod(0o555)
        root = str(Path(__file__).resolve().parents[2])
        code = _READONLY_CHILD.format(root=root, url=server.url, journal=str(journal))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
        assert server.state.stats()["jobs_created"] == 1  # nothing was submitted again
        assert os.stat(journal).st_mode & 0o222 == 0  # and the journal really was read-only
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
