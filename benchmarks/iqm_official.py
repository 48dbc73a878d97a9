"""IQM's official client against the embedded server: ``get_backend(use_metrics=True)`` and a facade backend.

Starts an embedded server (Garnet-shaped, calibrated noise) in this process, then runs a child script in
the interpreter of IQM's client (iqm-client 36 + qiskit-iqm, its own virtual environment) that:

* builds ``IQMProvider(url, quantum_computer="garnet").get_backend(use_metrics=True)`` and prints the
  T1/T2 and the errors and durations its transpilation target carries (read from our calibration-set and
  metrics endpoints), then runs a Bell circuit on it;
* builds IQM's facade backend ``get_backend("facade_garnet")``, which submits to our server for validation
  and simulates locally with IQM's own ``IQMFakeGarnet``.

Usage::

    python benchmarks/iqm_official.py [--baseline-python /work/iqm-venv/bin/python]

Prints ``IQM client: get_backend(use_metrics=True) works`` and ``IQM client: facade_garnet works``
(exit 0), or what failed (exit 1).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

from iqm_async.server import RateLimitConfig, serve_in_thread

DEFAULT_PYTHON = os.environ.get("IQM_OFFICIAL_PYTHON", "/work/iqm-venv/bin/python")

CHILD = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from qiskit import QuantumCircuit, transpile
    from iqm.qiskit_iqm import IQMProvider

    url = sys.argv[1]
    provider = IQMProvider(url, quantum_computer="garnet")
    backend = provider.get_backend(use_metrics=True)
    target = backend.target
    qp = target.qubit_properties[0]
    cz = target["cz"][(0, 1)]
    r = target["r"][(0,)]
    m = target["measure"][(0,)]
    print(f"metrics QB1: T1 {qp.t1 * 1e6:.1f} us, T2 {qp.t2 * 1e6:.1f} us, prx error {r.error:.2e}, "
          f"measure error {m.error:.3f}, cz(QB1,QB2) error {cz.error:.2e} in {cz.duration * 1e9:.0f} ns")
    assert qp.t1 and r.error and cz.error and cz.duration and m.error
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    counts = backend.run(transpile(bell, backend), shots=1000).result().get_counts()
    print(f"use_metrics=True Bell counts: {dict(sorted(counts.items()))}")
    assert sum(counts.values()) == 1000
    print("IQM client: get_backend(use_metrics=True) works")

    facade = provider.get_backend("facade_garnet")
    counts = facade.run(transpile(bell, facade), shots=1000).result().get_counts()
    print(f"facade_garnet Bell counts (IQM's local simulation after our server ran the job): "
          f"{dict(sorted(counts.items()))}")
    assert sum(counts.values()) == 1000
    print("IQM client: facade_garnet works")
    """
)


def run(python: str) -> int:
    """Serve a noisy Garnet-shaped chip and run IQM's client against it; return the child's exit code."""
    with serve_in_thread(chip="garnet", noise="calibrated", seed=1, rate_limit=RateLimitConfig(enabled=False)) as srv:
        proc = subprocess.run([python, "-c", CHILD, srv.url], capture_output=True, text=True, timeout=600, check=False)
        jobs = srv.state.stats()["jobs_created"]
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr[-4000:])
    print(f"jobs run by the embedded server: {jobs}")
    return proc.returncode


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-python", default=DEFAULT_PYTHON, help="interpreter of IQM's client")
    args = parser.parse_args()
    if not os.path.exists(args.baseline_python):
        print(f"IQM's client is not installed at {args.baseline_python}; pass --baseline-python", file=sys.stderr)
        return 2
    return run(args.baseline_python)


if __name__ == "__main__":
    sys.exit(main())
