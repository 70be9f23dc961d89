"""mes_core.services: the use cases the API and the ingestion workers call."""

__all__: list[str] = []
