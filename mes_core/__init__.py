"""mes_core: the MES core, which reads machines only over the wire."""

__all__: list[str] = []
