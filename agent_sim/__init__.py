"""agent_sim: the MTConnect agent, SHDR adapters and iX4.0 API that make the twin look like real machines."""

__all__: list[str] = []
