"""``python -m iqm_async.cli``: the same command line as the ``iqm-async`` console script."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
