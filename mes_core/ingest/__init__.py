"""mes_core.ingest: reading machines over the wire: MTConnect parsing, polling and streaming clients."""

__all__: list[str] = []
