"""``python -m agent_sim``: the standalone agent and adapter commands."""

from agent_sim.cli import main

main()
