"""``python -m scenarios``: the ``mestwin`` command line."""

from scenarios.cli import main

main()
