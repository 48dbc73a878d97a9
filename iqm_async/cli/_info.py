"""Read commands of ``iqm-async`` that need no job: quantum computers, architecture, and the ledger's jobs and usage."""

from __future__ import annotations

from typing import Any

import click

from ._common import Settings, connection_options, emit_json, fail, json_option, run_async

__all__ = ["architecture", "jobs", "quantum_computers", "usage"]


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


@click.command("quantum-computers", short_help="List the quantum computers on the server.")
@json_option
@connection_options
def quantum_computers(as_json: bool, settings: Settings) -> None:
    """List the quantum computers on the server (alias, display name, id).

    \b
    Examples:
      iqm-async quantum-computers --url https://resonance.iqm.tech
    """

    async def go() -> list[Any]:
        async with settings.client() as client:
            return await client.quantum_computers()

    computers = run_async(go)
    if as_json:
        emit_json([qc.to_json() for qc in computers])
    else:
        _table(["ALIAS", "DISPLAY NAME", "ID"], [[qc.alias, qc.display_name, qc.id] for qc in computers])


@click.command(short_help="Show the calibrated architecture (qubits, gates, loci).")
@click.option("--calibration-set", metavar="ID", help="Calibration set UUID (default: the server's current one).")
@json_option
@connection_options
def architecture(calibration_set: str | None, as_json: bool, settings: Settings) -> None:
    """Show the calibrated architecture: calibration set id, qubits, resonators, gates and their loci.

    \b
    Examples:
      iqm-async architecture -q garnet
      iqm-async architecture --calibration-set 26c5e70f-bea0-43af-bd37-6212ec7d04cb --json
    """

    async def go() -> Any:
        async with settings.client() as client:
            return await client.dynamic_architecture(calibration_set)

    dqa = run_async(go)
    if as_json:
        emit_json(dqa.to_json())
        return
    click.echo(f"calibration set: {dqa.calibration_set_id}")
    click.echo(f"qubits ({len(dqa.qubits)}): {' '.join(dqa.qubits)}")
    if dqa.computational_resonators:
        click.echo(f"computational resonators: {' '.join(dqa.computational_resonators)}")
    for name, gate in sorted(dqa.gates.items()):
        loci = gate.loci
        shown = " ".join("-".join(locus) for locus in loci[:8])
        more = f" … ({len(loci)} loci)" if len(loci) > 8 else ""
        click.echo(f"{name}: {shown}{more}")


@click.command(short_help="List jobs from the local ledger.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="S",
    help="waiting, processing, completed, failed, cancelled, or unfinished / final (repeatable).",
)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only jobs with this tag (repeat: all of them).")
@click.option("--since", metavar="DATE", help="Only jobs submitted since DATE (ISO-8601, e.g. 2026-11-30).")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many (newest).")
@click.option("--refresh", is_flag=True, help="Ask the server for the status of unfinished jobs first.")
@json_option
@connection_options
def jobs(
    statuses: tuple[str, ...],
    tags: tuple[str, ...],
    since: str | None,
    limit: int,
    refresh: bool,
    as_json: bool,
    settings: Settings,
) -> None:
    """List jobs from the local ledger, newest first (only this server's with --url or $IQM_SERVER_URL).

    \b
    Examples:
      iqm-async jobs --tag sweep-7 --since 2026-11-01
      iqm-async jobs --status unfinished --refresh
      iqm-async jobs --status failed --json | jq -r '.[].job_id'
    """
    import os

    ledger = settings.open_ledger()
    if ledger is None:
        fail("the job ledger is off (--no-ledger or IQM_ASYNC_LEDGER=off)", "configuration")
    server = settings.url or os.environ.get("IQM_SERVER_URL") or None
    query: dict[str, Any] = {"status": list(statuses) or None, "tags": list(tags) or None, "since": since}

    async def go() -> list[Any]:
        if refresh:
            stale = ledger.jobs(**query, limit=limit, server_url=server)
            by_server: dict[str, list[str]] = {}
            for entry in stale:
                if not entry.is_final:
                    by_server.setdefault(entry.server_url, []).append(entry.job_id)
            for url, ids in by_server.items():
                async with Settings(
                    url,
                    settings.token,
                    settings.tokens_file,
                    settings.quantum_computer,
                    settings.ledger,
                    settings.no_ledger,
                ).client() as client:
                    for job_id in ids:
                        ledger.note(await client.job_data(job_id))
        return ledger.jobs(**query, limit=limit, server_url=server)

    entries = run_async(go)
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    rows = [
        [
            e.job_id,
            e.submitted.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            e.quantum_computer or "",
            e.status,
            str(e.circuits or ""),
            str(e.shots or ""),
            "" if e.qpu_seconds is None else f"{e.qpu_seconds:.3f}",
            ",".join(e.tags),
        ]
        for e in entries
    ]
    _table(["JOB ID", "SUBMITTED", "QC", "STATUS", "CIRCUITS", "SHOTS", "QPU S", "TAGS"], rows)


@click.command(short_help="Sum QPU seconds from the local ledger by quantum computer and tag.")
@click.option("--since", metavar="DATE", help="Only jobs submitted since DATE (ISO-8601).")
@json_option
@connection_options
def usage(since: str | None, as_json: bool, settings: Settings) -> None:
    """Sum QPU seconds from the local ledger by quantum computer and by tag.

    A job with several tags counts under each of them, and once in its quantum computer's total.

    \b
    Examples:
      iqm-async usage --since 2026-11-01
    """
    import os

    ledger = settings.open_ledger()
    if ledger is None:
        fail("the job ledger is off (--no-ledger or IQM_ASYNC_LEDGER=off)", "configuration")
    server = settings.url or os.environ.get("IQM_SERVER_URL") or None

    async def go() -> Any:
        return ledger.usage(since=since, server_url=server)

    report = run_async(go)
    if as_json:
        emit_json(report.to_json())
        return
    rows = []
    for qc, total in report.totals.items():
        rows.append([qc or "?", "(all)", str(total.jobs), f"{total.qpu_seconds:.3f}"])
        rows.extend(
            [qc or "?", r.tag if r.tag is not None else "(untagged)", str(r.jobs), f"{r.qpu_seconds:.3f}"]
            for r in report.rows
            if r.quantum_computer == qc
        )
    _table(["QC", "TAG", "JOBS", "QPU SECONDS"], rows)
