"""``python -m mes_core``: the MES core commands."""

from mes_core.cli import main

main()
