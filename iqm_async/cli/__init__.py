"""The ``iqm-async`` command line: jobs, results, the local job ledger and the embedded server from a shell.

Installed as the console script ``iqm-async`` (also ``python -m iqm_async.cli``). Built on click; every
command takes the library's connection settings as flags, falling back to the same environment
variables (``IQM_SERVER_URL``, ``IQM_TOKEN`` / ``IQM_TOKENS_FILE``, ``IQM_QUANTUM_COMPUTER``), and the
ledger is on by default (``--no-ledger`` or ``IQM_ASYNC_LEDGER=off`` turn it off).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ._common import EXIT, EXIT_CODES_HELP
from ._info import architecture, jobs, quantum_computers, usage
from ._jobs import batch, cancel, result, status, submit, wait

__all__ = ["EXIT", "cli", "main"]

_EPILOG = (
    """\b
Examples:
  iqm-async serve --port 8765 &                  # the embedded server (needs iqm-async[server])
  export IQM_SERVER_URL=http://127.0.0.1:8765
  iqm-async quantum-computers
  JOB=$(iqm-async submit bell.qasm --shots 1000 --tag demo)
  iqm-async wait $JOB && iqm-async result $JOB
  iqm-async jobs --tag demo
  iqm-async usage --since 2026-11-01

\b
Settings: flags first, then IQM_SERVER_URL, IQM_TOKEN or IQM_TOKENS_FILE, IQM_QUANTUM_COMPUTER;
the job ledger: --ledger FILE, then IQM_ASYNC_LEDGER (a path, or off), then the user data directory.

"""
    + EXIT_CODES_HELP
)


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="iqm-async", prog_name="iqm-async", message="%(prog)s %(version)s")
def cli() -> None:
    """Run and track circuits on IQM quantum computers (or the embedded server)."""


@cli.command(
    short_help="Serve the embedded IQM-compatible server on loopback.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """Serve the embedded IQM-compatible server on loopback until Ctrl-C (the flags of python -m iqm_async.server).

    \b
    Examples:
      iqm-async serve --port 8765 --seed 7
      iqm-async serve --help
    """
    try:
        from ..server.__main__ import build_parser
        from ..server.__main__ import main as serve_main
    except ImportError as exc:
        hint = "pip install 'iqm-async[server]'"
        click.echo(f"error: the embedded server needs the server extra: {hint} ({exc})", err=True)
        sys.exit(EXIT["configuration"])
    if "-h" in args or "--help" in args:
        parser = build_parser()
        parser.prog = "iqm-async serve"
        parser.print_help()
        sys.exit(EXIT["ok"])
    sys.exit(serve_main(list(args)))


for _command in (quantum_computers, architecture, submit, status, wait, result, cancel, jobs, usage, batch):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: run the command line and return its exit code."""
    try:
        cli.main(args=None if argv is None else list(argv), prog_name="iqm-async", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
