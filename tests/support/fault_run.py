"""`python tests/support/fault_run.py ARGS` is `dynashift ARGS` with the crash points of
`DYNASHIFT_FAULT` armed (faults.py): what the crash tests start instead of `python -m dynashift.cli`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, so `support` imports

from support.faults import install  # noqa: E402

from dynashift.cli import main  # noqa: E402

if __name__ == "__main__":
    install()
    main()
