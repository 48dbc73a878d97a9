"""Whether a process pool's workers can start without re-running the caller's script (its ``__main__`` guard).

A worker started with ``spawn`` or ``forkserver`` imports the parent's ``__main__`` script again, under
the name ``__mp_main__``, so that functions defined there can be unpickled. Code at the top level of
that script runs again in every worker; only code under ``if __name__ == "__main__":`` does not. A
user's quick script that calls ``run_batch`` (or a sampler, or ``backend.run``) at its top level
would then run again in each worker, with every request it makes: jobs submitted twice.

``executor="auto"`` therefore asks :func:`main_reimport_is_safe` before it starts a pool, and
prepares in the calling process when the answer is no. The check looks at where the main thread is
in the ``__main__`` script (the line of its module-level frame) and whether that line lies inside a
``__main__`` guard; a ``__main__`` without a file (a REPL, a notebook, ``python -c``) is never
re-imported, and neither is a package's ``__main__`` run with ``python -m``.
"""

from __future__ import annotations

import ast
import functools
import os
import sys
import threading
import types

__all__ = ["main_reimport_is_safe", "main_script"]


def main_script() -> str | None:
    """Return the path of the ``__main__`` script workers would re-import, or None when there is none."""
    main = sys.modules.get("__main__")
    if main is None:
        return None
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name is not None and (spec_name == "__main__" or spec_name.endswith(".__main__")):
        return None  # multiprocessing does not re-import a package's __main__ module
    path = getattr(main, "__file__", None)
    return path if isinstance(path, str) else None


def main_reimport_is_safe() -> bool:
    """Return True when worker processes would not re-run the code that is running now (see the module doc)."""
    path = main_script()
    if path is None:
        return True
    main = sys.modules["__main__"]
    frame = _module_frame(main)
    if frame is None:
        # The script's top level is not on the main thread's stack (it has finished, and another thread
        # runs the batch): a re-import would run everything again.
        return False
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return frame.f_lineno in _guarded_lines(path, stat.st_mtime_ns)


def _module_frame(main: types.ModuleType) -> types.FrameType | None:
    """Return the ``<module>`` frame of ``main`` on the main thread's stack, if it is there."""
    ident = threading.main_thread().ident
    frame = sys._current_frames().get(ident) if ident is not None else None
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            return frame
        frame = frame.f_back
    return None


def _is_main_test(node: ast.expr) -> bool:
    """Return True for ``__name__ == "__main__"`` (either way round), alone or in an ``and``."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return any(_is_main_test(value) for value in node.values)
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = (node.left, node.comparators[0])
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


@functools.lru_cache(maxsize=8)
def _guarded_lines(path: str, mtime_ns: int) -> frozenset[int]:
    """Return the line numbers of ``path`` that lie in the body of a top-level ``__main__`` guard."""
    del mtime_ns  # part of the cache key only: an edited script is parsed again
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
            first, last = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            lines.update(range(first, last + 1))
    return frozenset(lines)
