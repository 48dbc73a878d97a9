"""``iqm-async wait`` shows one progress line on stderr when asked (and by default only on a terminal)."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Run


def test_wait_progress_line(iqm: Run, qasm_files: tuple[Path, Path], server) -> None:
    job_id = iqm("submit", str(qasm_files[0]), "--shots", "50").stdout.strip()
    shown = iqm("wait", job_id, "--progress", "--timeout", "60")
    assert (shown.returncode, shown.stdout.strip()) == (0, "completed"), shown.stderr
    assert re.search(rf"job {job_id[:8]}:\s+100%\|.*\| 1/1 circuits", shown.stderr), shown.stderr
    quiet = iqm("wait", job_id, "--timeout", "60")  # stderr is a pipe here: no line by default
    assert (quiet.returncode, quiet.stderr) == (0, "")
