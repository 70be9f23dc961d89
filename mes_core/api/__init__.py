"""mes_core.api: the REST API of the MES (FastAPI)."""

__all__: list[str] = []
