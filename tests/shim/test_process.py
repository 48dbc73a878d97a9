"""Process-level behaviour in subprocesses: fork, Ctrl-C during result(), interpreter exit under ``-W error``.

The loopback server runs in this (the test) process, so the test can hold jobs and look at them;
the facade runs in a child interpreter, which is what these situations need.
"""

from __future__ import annotations

import signal
import textwrap
import time

from iqm_async.server import RunningServer

from .conftest import run_script

PRELUDE = textwrap.dedent(
    """
    import os, sys, threading
    from math import pi
    from qiskit import QuantumCircuit
    from iqm_async import PollPolicy, RateLimitPolicy
    from iqm_sync_shim import IQMProvider
    from iqm_sync_shim import _runner

    url = sys.argv[1]
    options = dict(poll=PollPolicy(first_delay=0.02, max_interval=0.1), rate_limit=RateLimitPolicy(enabled=False))
    qc = QuantumCircuit(2, 2, name="x0")
    qc.r(pi, 0.0, 0)
    qc.measure([0, 1], [0, 1])
    """
)

FORK = PRELUDE + textwrap.dedent(
    """
    provider = IQMProvider(url, **options)
    backend = provider.get_backend()
    before = backend.run(qc, shots=5)
    assert before.result().get_counts() == {"01": 5}
    pending = backend.run(qc, shots=7)
    pending.wait_for_final_state()        # final status known in the parent, result not fetched yet
    parent_runner = _runner.get_runner()

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            assert _runner.get_runner() is not parent_runner       # the parent's loop is not reused
            assert pending.result().get_counts() == {"01": 7}      # a parent's job, re-bound to the child's client
            assert backend.run(qc, shots=3).result().get_counts() == {"01": 3}
            assert before.status().name == "DONE"
            assert len([t for t in threading.enumerate() if t.name == "iqm-sync-shim-portal"]) == 1
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.exit(code)                 # a normal exit: the child's exit hook closes the child's loop only
    _, status = os.waitpid(pid, 0)
    child = os.waitstatus_to_exitcode(status)
    # The parent's loop and client were not disturbed by the child.
    assert _runner.get_runner() is parent_runner
    assert backend.run(qc, shots=2).result().get_counts() == {"01": 2}
    print("child exit code", child)
    sys.exit(child)
    """
)


def test_fork_child_gets_its_own_loop_and_client(srv: RunningServer) -> None:
    proc = run_script(FORK, srv.url, python_flags=("-W", "error"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "child exit code 0" in out
    assert err == ""


CTRL_C = PRELUDE + textwrap.dedent(
    """
    import time
    provider = IQMProvider(url)           # default polling, as a user would have it
    job = provider.get_backend().run(qc, shots=5)
    job.status()
    try:
        print(job.job_id(), flush=True)
        job.result()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("result returned", flush=True)
    """
)


def test_ctrl_c_during_result_stops_within_half_a_second_and_leaves_the_job(srv: RunningServer) -> None:
    srv.state.hold()
    proc = run_script(CTRL_C, srv.url)
    assert proc.stdout is not None
    job_id = proc.stdout.readline().strip()
    assert job_id, proc.communicate(timeout=30)
    # The child has submitted and is now inside result() (or just about to be: the handler covers both).
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    line = proc.stdout.readline().strip()
    stopped = time.monotonic() - sent
    out, err = proc.communicate(timeout=30)
    assert line == "interrupted", (line, out, err)
    assert stopped < 0.5, stopped
    assert proc.returncode == 130
    assert "Traceback" not in err and "Warning" not in err, err
    # Ctrl-C gave up the local wait only: the job is still queued on the server.
    assert srv.state.store.status(job_id) == "waiting"


EXIT_CHECK = textwrap.dedent(
    """
    import atexit, threading

    def exit_check():  # registered before the shim is imported, so it runs after the shim's exit hook
        portal_alive = any(t.name == "iqm-sync-shim-portal" and t.is_alive() for t in threading.enumerate())
        print("client closed:", provider._client.is_closed, "portal alive:", portal_alive, flush=True)

    atexit.register(exit_check)
    """
)

EXIT = (
    EXIT_CHECK
    + PRELUDE
    + textwrap.dedent(
        """
    provider = IQMProvider(url, **options)      # never closed: the exit hook must clean up
    backend = provider.get_backend()
    held = backend.run(qc, shots=3)            # the server holds it: a daemon thread stays blocked in result()
    waiting = threading.Event()

    def wait_forever():
        waiting.set()
        held.result()

    threading.Thread(target=wait_forever, daemon=True).start()
    waiting.wait()
    held.status()
    print(held.job_id(), flush=True)
    """
    )
)


def test_interpreter_exit_is_clean_under_w_error(srv: RunningServer) -> None:
    srv.state.hold()
    start = time.monotonic()
    proc = run_script(EXIT, srv.url, python_flags=("-W", "error"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert err == "", err  # no "Event loop is closed", no unclosed client, no destroyed task, no traceback
    job_id, check = out.strip().splitlines()
    assert check == "client closed: True portal alive: False"  # deterministic clean-up by the exit hook
    assert srv.state.store.status(job_id) == "waiting"  # exit leaves remote jobs alone
    assert time.monotonic() - start < 30
