"""Command line: parsing, output and exit codes (0 done, 1 failed at run time, 2 bad usage or
configuration). No replication logic lives here. `common.py` holds what the commands share; each
other module is one command (or group); `app.py` registers them on `main`."""

from .app import main

__all__ = ["main"]
