"""Job commands of ``iqm-async``: submit, status, wait, result, cancel, and ``batch resume``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ._common import EXIT, Settings, connection_options, emit_json, fail, json_option, run_async

if TYPE_CHECKING:
    from ..models import JobData

__all__ = ["batch", "cancel", "result", "status", "submit", "wait"]

_FINAL_EXIT = {"completed": "ok", "failed": "failed", "cancelled": "cancelled"}


def describe(data: JobData) -> str:
    """One line about a job's state: ``waiting (queue position 2)``, ``processing (3/10 circuits)``, ``failed: …``."""
    from ..job import format_errors

    if data.status == "waiting" and data.queue_position is not None:
        return f"waiting (queue position {data.queue_position})"
    if data.status == "processing" and data.progress is not None:
        done, total = data.progress
        return f"processing ({done}/{total} circuits)"
    if data.status == "failed":
        errors = (format_errors(data) or "").strip()
        return f"failed: {errors}" if errors else "failed"
    return data.status


def job_json(data: JobData) -> dict[str, Any]:
    """Return a job's status document for ``--json``: the server's JobData plus the Qiskit status name."""
    from ..job import to_qiskit_status

    out = data.to_json()
    out["qiskit_status"] = to_qiskit_status(data.status).name
    return out


@click.command(short_help="Submit circuit files (OpenQASM 2/3, QPY) as one job; print its id.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--shots", type=click.IntRange(min=1), default=1024, show_default=True, help="Shots per circuit.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Label the job (repeatable); see 'jobs --tag'.")
@click.option("--no-transpile", is_flag=True, help="Send the circuits as they are (already in native gates).")
@click.option("--calibration-set", metavar="ID", help="Calibration set UUID (default: the server's current one).")
@click.option("--seed-transpiler", type=int, default=None, help="Seed of the transpiler's randomised passes.")
@json_option
@connection_options
def submit(
    files: tuple[str, ...],
    shots: int,
    tags: tuple[str, ...],
    no_transpile: bool,
    calibration_set: str | None,
    seed_transpiler: int | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Submit the circuits of FILE... (OpenQASM 2/3 or QPY) as one job and print its id.

    \b
    Examples:
      iqm-async submit bell.qasm --shots 1000 --tag bell
      JOB=$(iqm-async submit sweep.qpy --tag sweep-7) && iqm-async wait $JOB
    """
    from ._circuits import load_circuits, transpile_for

    try:
        circuits = load_circuits(files)
    except (OSError, ValueError) as exc:
        fail(str(exc), "usage")

    async def go() -> dict[str, Any]:
        async with settings.client() as client:
            prepared_circuits = circuits
            options: dict[str, Any] = {}
            if not no_transpile:
                from ..qiskit_convert import qubit_names

                dqa = await client.dynamic_architecture(calibration_set)
                prepared_circuits, names = transpile_for(circuits, dqa, qubit_names(dqa), seed=seed_transpiler)
                if names is not None:
                    width = max(c.num_qubits for c in prepared_circuits)
                    options["qubit_names"] = names[:width]
            if calibration_set is not None:
                options["calibration_set_id"] = calibration_set
            job = await client.submit(prepared_circuits, shots, tags=list(tags), **options)
            return {"job_id": job.job_id, "circuits": len(circuits), "shots": shots, "tags": list(tags)}

    info = run_async(go)
    if as_json:
        emit_json(info)
    else:
        click.echo(info["job_id"])


@click.command(short_help="Print a job's status.")
@click.argument("job_id")
@json_option
@connection_options
def status(job_id: str, as_json: bool, settings: Settings) -> None:
    """Print a job's status (one request); exits 0 whatever the status is.

    \b
    Examples:
      iqm-async status 5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77
      iqm-async status $JOB --json | jq .queue_position
    """

    async def go() -> JobData:
        async with settings.client() as client:
            return await client.job(job_id).refresh_async()

    data = run_async(go)
    if as_json:
        emit_json(job_json(data))
    else:
        click.echo(describe(data))


@click.command(short_help="Wait until a job is final; the exit code says how it ended.")
@click.argument("job_id")
@click.option("--timeout", type=float, default=None, metavar="S", help="Give up after S seconds (default: 3 h).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show one progress line on stderr: queue position, then circuits done (default: when stderr is a terminal).",
)
@json_option
@connection_options
def wait(job_id: str, timeout: float | None, progress: bool | None, as_json: bool, settings: Settings) -> None:
    """Wait until a job is final and print its status.

    The exit code says how it ended: 0 completed, 5 failed, 6 cancelled, 7 timed out (the job keeps running).

    \b
    Examples:
      iqm-async wait $JOB --timeout 600 && iqm-async result $JOB --output bell.json
    """

    async def go() -> JobData:
        async with settings.client() as client:
            # The tqdm line of iqm_async.progress; by default on a terminal, once the wait has lasted a second.
            return await client.job(job_id).wait_async(timeout, progress=progress)

    data = run_async(go)
    if as_json:
        emit_json(job_json(data))
    else:
        click.echo(describe(data))
    sys.exit(EXIT[_FINAL_EXIT.get(data.status, "error")])


@click.command(short_help="Wait for a job and print (or save) its results.")
@click.argument("job_id")
@click.option("--counts", "form", flag_value="counts", default=True, help="Print counts per circuit (default).")
@click.option("--memory", "form", flag_value="memory", help="Print every shot's bitstring.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Save the whole qiskit Result (JSON; gzip if FILE ends in .gz); load it with iqm_async.load_results.",
)
@click.option("--timeout", type=float, default=None, metavar="S", help="Wait at most S seconds (default: 3 h).")
@json_option
@connection_options
def result(
    job_id: str, form: str, output: str | None, timeout: float | None, as_json: bool, settings: Settings
) -> None:
    """Wait for a job and print its results (bitstrings as Qiskit's get_counts()/get_memory() show them).

    \b
    Examples:
      iqm-async result $JOB
      iqm-async result $JOB --memory --json > shots.json
      iqm-async result $JOB --output run.json.gz
    """

    async def go() -> Any:
        async with settings.client() as client:
            return await client.job(job_id).result_async(timeout)

    res = run_async(go)
    if not res.success:  # a cancelled job: the library returns an empty Result with a warning
        fail(f"job {job_id} was cancelled; it has no results", "cancelled")
    if output is not None:
        from ..result_files import save_results

        path = save_results(output, res)
        click.echo(f"saved {path}", err=True)
    circuits = []
    for i, exp in enumerate(res.results):
        header = exp.header if isinstance(exp.header, dict) else vars(exp.header or {})
        entry: dict[str, Any] = {"name": header.get("name") or f"circuit_{i}", "shots": exp.shots}
        entry[form] = res.get_counts(i) if form == "counts" else res.get_memory(i)
        circuits.append(entry)
    if as_json:
        emit_json({"job_id": job_id, "circuits": [{**c, form: _plain(c[form])} for c in circuits]})
    elif output is None:
        for c in circuits:
            if form == "counts":
                top = sorted(c["counts"].items(), key=lambda kv: (-kv[1], kv[0]))
                click.echo(f"{c['name']} ({c['shots']} shots): " + ", ".join(f"{k}: {v}" for k, v in top))
            else:
                click.echo(f"{c['name']} ({c['shots']} shots):")
                for shot in c["memory"]:
                    click.echo(shot)


def _plain(value: Any) -> Any:
    """Qiskit's ``Counts`` as a plain dict (it is one, with extra attributes), lists unchanged."""
    return dict(value) if isinstance(value, dict) else list(value)


@click.command(short_help="Cancel a job.")
@click.argument("job_id")
@json_option
@connection_options
def cancel(job_id: str, as_json: bool, settings: Settings) -> None:
    """Cancel a job; exits 0 if this cancelled it, 1 if it had already ended (its status is printed).

    \b
    Examples:
      iqm-async cancel $JOB
    """

    async def go() -> tuple[bool, JobData]:
        async with settings.client() as client:
            job = client.job(job_id)
            cancelled = await job.cancel_async()
            data = job.last_data
            assert data is not None
            return cancelled, data

    cancelled, data = run_async(go)
    if as_json:
        emit_json({"job_id": job_id, "cancelled": cancelled, "status": data.status})
    else:
        click.echo("cancelled" if cancelled else f"not cancelled: the job had already ended ({data.status})")
    sys.exit(EXIT["ok"] if cancelled else EXIT["error"])


@click.group(short_help="Batches: resume from a journal.")
def batch() -> None:
    """Batches of many jobs (see the batch journal in the README)."""


@batch.command("resume", short_help="Re-attach to a batch journal's jobs and wait for their outcomes.")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Save every circuit's outcome (JSON, .gz).")
@click.option("--timeout", type=float, default=None, metavar="S", help="Deadline of the batch (default: 3 h).")
@json_option
@connection_options
def resume(journal: str, output: str | None, timeout: float | None, as_json: bool, settings: Settings) -> None:
    """Re-attach to every job of a batch journal (nothing is submitted again) and wait for their outcomes.

    Exits 0 when every circuit has a result, 5 when some failed.

    \b
    Examples:
      iqm-async batch resume sweep.jsonl --output sweep.json.gz
    """

    async def go() -> tuple[list[Any], dict[str, Any]]:
        async with settings.client() as client:
            sweep = client.resume_batch(journal, timeout_seconds=timeout, progress=sys.stderr.isatty())
            outcomes = await sweep.outcomes()
            batch_id = sweep.spec.get("batch_id")
            if client.ledger is not None and batch_id:
                client.ledger.set_batch(sweep.job_ids, str(batch_id))
            return outcomes, dict(sweep.spec)

    outcomes, spec = run_async(go)
    failed = [o for o in outcomes if not o.ok]
    if output is not None:
        from ..result_files import save_results

        click.echo(f"saved {save_results(output, outcomes)}", err=True)
    failures = [{"index": o.index, "job_id": o.job_id, "error": str(o.error)} for o in failed]
    if as_json:
        emit_json(
            {
                "batch_id": spec.get("batch_id"),
                "circuits": len(outcomes),
                "succeeded": len(outcomes) - len(failed),
                "failed": failures,
            }
        )
    else:
        click.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} circuits succeeded")
        for f in failures:
            click.echo(f"  circuit {f['index']} (job {f['job_id']}): {f['error']}")
    sys.exit(EXIT["failed"] if failed else EXIT["ok"])
