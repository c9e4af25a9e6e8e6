"""`python -m dynashift.cli`."""

from .app import main

main()
