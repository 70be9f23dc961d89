"""mes_core.domain: the MES rules, pure: state taxonomy, signal mapping, counters, alarms, OEE, shifts."""

__all__: list[str] = []
