"""Command line: ``python -m iqm_async.server`` serves the IQM-compatible simulator on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..devices.chips import chip_names
from .config import LAYOUTS, RateLimitConfig, ServerConfig, is_loopback_host
from .runner import bind_socket, build_uvicorn_server, url_for
from .state import ServerState

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line."""
    defaults = ServerConfig()
    limits = RateLimitConfig()
    parser = argparse.ArgumentParser(
        prog="python -m iqm_async.server",
        description="Serve an IQM Server API v1 compatible simulator (qiskit-aer) over HTTP on loopback.",
    )
    parser.add_argument("--host", default=defaults.host, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port to bind; 0 picks a free one (default: 0)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (the server has no TLS; use with care)",
    )
    parser.add_argument(
        "--chip",
        action="append",
        choices=chip_names(),
        default=None,
        metavar="NAME",
        help=(
            "quantum computer to serve, by chip shape: garnet (20-qubit crystal), emerald (54-qubit crystal), "
            "sirius (16+1 star), deneb (6+1 star) or sim (--qubits/--layout, served as --alias); repeat to "
            "serve several at once (default: sim)"
        ),
    )
    parser.add_argument("--qubits", type=int, default=defaults.qubits, help="number of qubits (default: %(default)s)")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=defaults.layout,
        help="chip layout: square lattice, line, or star with a COMP_R resonator (default: %(default)s)",
    )
    parser.add_argument("--alias", default=defaults.alias, help="quantum computer alias (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for reproducible outcomes (default: random)")
    parser.add_argument(
        "--noise",
        action="append",
        default=None,
        metavar="MODE",
        help=(
            "ideal (exact) or calibrated (thermal relaxation, fitted depolarizing and readout errors from each "
            "job's calibration set; heralding drops shots); ALIAS=MODE for one quantum computer; repeatable "
            "(default: ideal)"
        ),
    )
    parser.add_argument(
        "--exec-time-per-shot",
        type=float,
        default=defaults.exec_time_per_shot,
        metavar="S",
        help="seconds added per shot of every circuit (default: %(default)s)",
    )
    parser.add_argument(
        "--exec-time-per-circuit",
        type=float,
        default=defaults.exec_time_per_circuit,
        metavar="S",
        help="seconds added per circuit (default: %(default)s)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="T",
        help="accepted bearer token; repeat for several; none means authentication is off",
    )
    parser.add_argument(
        "--control-token",
        default=None,
        metavar="T",
        help=(
            "bearer token that opens the /_control API; with --token and no --control-token the control API "
            "is refused (403)"
        ),
    )
    parser.add_argument(
        "--keep-finished-seconds",
        type=float,
        default=defaults.keep_finished_seconds,
        metavar="S",
        help="seconds a finished job and its results stay readable, then 404 (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-finished-jobs",
        type=int,
        default=defaults.keep_finished_jobs,
        metavar="N",
        help="most finished jobs kept, oldest evicted first (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-finished-mib",
        type=float,
        default=(defaults.keep_finished_bytes or 0) / 2**20,
        metavar="MIB",
        help="most MiB of finished jobs' results kept, oldest evicted first (default: %(default)s)",
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="switch the request budget off")
    parser.add_argument(
        "--quota", type=int, default=limits.quota, help="rate-limit units per rolling window (default: %(default)s)"
    )
    parser.add_argument(
        "--max-components",
        type=int,
        default=defaults.max_components,
        help="largest number of interacting components one circuit may entangle (default: %(default)s)",
    )
    return parser


def _noise_arg(values: list[str] | None) -> str | tuple[tuple[str, str], ...]:
    """Turn ``--noise calibrated`` or ``--noise garnet=calibrated --noise sirius=ideal`` into the config value."""
    if not values:
        return "ideal"
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = []
    for value in values:
        alias, sep, mode = value.partition("=")
        if not sep:
            raise ValueError(f"--noise {value}: give either one MODE, or ALIAS=MODE for each quantum computer")
        pairs.append((alias, mode))
    return tuple(pairs)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, print ``IQM server listening on http://HOST:PORT`` and serve until interrupted."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    if not args.allow_remote and not is_loopback_host(args.host):
        parser.error(f"--host {args.host} is not a loopback address; add --allow-remote to bind it anyway")
    try:
        config = ServerConfig(
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            chip=(args.chip or ["sim"])[0],
            extra_chips=tuple((args.chip or ["sim"])[1:]),
            qubits=args.qubits,
            layout=args.layout,
            alias=args.alias,
            seed=args.seed,
            noise=_noise_arg(args.noise),
            exec_time_per_shot=args.exec_time_per_shot,
            exec_time_per_circuit=args.exec_time_per_circuit,
            tokens=frozenset(args.token),
            control_token=args.control_token,
            keep_finished_seconds=args.keep_finished_seconds,
            keep_finished_jobs=args.keep_finished_jobs,
            keep_finished_bytes=max(1, int(args.keep_finished_mib * 2**20)),
            rate_limit=RateLimitConfig(enabled=not args.no_rate_limit, quota=args.quota),
            max_components=args.max_components,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        print(f"cannot bind {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    url = url_for(sock)

    def announce() -> None:
        print(f"IQM server listening on {url}", flush=True)
        if config.chips != ("sim",):
            aliases = [config.alias if name == "sim" else name for name in config.chips]
            print(f"quantum computers: {', '.join(aliases)}", flush=True)

    server = build_uvicorn_server(ServerState(config), announce, handle_signals=True, configure_logging=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
