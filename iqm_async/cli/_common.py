"""What every command shares: connection options, exit codes, output (text or ``--json``) and error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import anyio
import click

from ..errors import (
    AuthenticationError,
    ClientConfigurationError,
    ForbiddenError,
    IQMError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    JournalError,
    NotFoundError,
    ValidationError,
)
from ..ledger import Ledger, LedgerError, open_ledger

if TYPE_CHECKING:
    from ..client import AsyncIQMClient

__all__ = ["EXIT", "Settings", "connection_options", "emit_json", "fail", "json_option", "run_async"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT = {
    "ok": 0,
    "error": 1,
    "usage": 2,
    "configuration": 3,
    "not_found": 4,
    "failed": 5,
    "cancelled": 6,
    "timeout": 7,
    "interrupted": 130,
}
"""Exit codes that scripts can rely on (also listed in ``iqm-async --help``)."""

EXIT_CODES_HELP = """\b
Exit codes:
  0  success            4  job or calibration set not found
  1  any other error    5  the job failed
  2  bad usage or input 6  the job was cancelled
  3  configuration or   7  timed out (the job keeps running)
     authentication   130  interrupted (Ctrl-C)
"""


@dataclass(frozen=True)
class Settings:
    """Connection settings from the command line; None falls back to the library's environment variables."""

    url: str | None = None
    token: str | None = None
    tokens_file: str | None = None
    quantum_computer: str | None = None
    ledger: str | None = None
    no_ledger: bool = False

    def open_ledger(self) -> Ledger | None:
        """Open the CLI's ledger: ``--ledger``, else ``IQM_ASYNC_LEDGER``, else the default file (None if off)."""
        if self.no_ledger:
            return None
        return open_ledger(self.ledger, default=True)

    def client(self) -> AsyncIQMClient:
        """Build an (unopened) :class:`~iqm_async.AsyncIQMClient` from these settings."""
        from ..client import AsyncIQMClient

        return AsyncIQMClient(
            self.url,
            token=self.token,
            tokens_file=self.tokens_file,
            quantum_computer=self.quantum_computer,
            ledger=self.open_ledger() or False,
        )


def connection_options(fn: F) -> F:
    """Add ``--url``, ``--token``, ``--tokens-file``, ``--quantum-computer``, ``--ledger``/``--no-ledger``."""
    options = [
        click.option("--url", metavar="URL", help="IQM server root URL (default: $IQM_SERVER_URL)."),
        click.option("--token", metavar="TOKEN", help="Bearer token (default: $IQM_TOKEN)."),
        click.option(
            "--tokens-file",
            metavar="FILE",
            help="JSON file with an access_token (default: $IQM_TOKENS_FILE).",
        ),
        click.option(
            "--quantum-computer",
            "-q",
            metavar="ALIAS",
            help="Quantum computer alias (default: $IQM_QUANTUM_COMPUTER, or the server's only one).",
        ),
        click.option(
            "--ledger",
            metavar="FILE",
            help="Job ledger file (default: $IQM_ASYNC_LEDGER, else the user data directory).",
        ),
        click.option("--no-ledger", is_flag=True, help="Do not record or read jobs in the local ledger."),
    ]

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        url: str | None,
        token: str | None,
        tokens_file: str | None,
        quantum_computer: str | None,
        ledger: str | None,
        no_ledger: bool,
        **kwargs: Any,
    ) -> Any:
        settings = Settings(url, token, tokens_file, quantum_computer, ledger, no_ledger)
        return fn(*args, settings=settings, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def fail(message: str, code: str = "error") -> NoReturn:
    """Print ``error: message`` on stderr and exit with the named exit code."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT[code])


def exit_code_for(exc: BaseException) -> str:
    """Name the exit code an exception maps to."""
    if isinstance(exc, (ClientConfigurationError, AuthenticationError, ForbiddenError)):
        return "configuration"
    if isinstance(exc, NotFoundError):
        return "not_found"
    if isinstance(exc, (ValidationError, JournalError)):
        return "usage"  # bad input: a circuit, an option, an id that is not a UUID, a journal
    if isinstance(exc, JobFailedError):
        return "failed"
    if isinstance(exc, JobCancelledError):
        return "cancelled"
    if isinstance(exc, JobTimeoutError):
        return "timeout"
    return "error"


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function to completion, turning the library's errors into messages and exit codes."""
    try:
        return anyio.run(fn, *args)
    except KeyboardInterrupt:
        click.echo("interrupted; jobs already submitted keep running on the server", err=True)
        sys.exit(EXIT["interrupted"])
    except LedgerError as exc:
        fail(str(exc), "configuration")
    except IQMError as exc:
        fail(str(exc), exit_code_for(exc))
    except ImportError as exc:  # an optional package a command needs (its message says what to install)
        fail(str(exc), "configuration")
    except (OSError, ValueError) as exc:
        fail(str(exc), "usage" if isinstance(exc, ValueError) else "error")
