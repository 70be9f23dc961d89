"""MTConnect assets of the twin's machines: the CuttingTool in the spindle or turret, with its tool life.

The twin reports tool life as a percentage (``tool_life_pct``); MTConnect has no data item for that, so it
travels here, in the CuttingTool asset's ``ToolLife``, counted in parts and down, as tool-management systems
count it. The element is namespace-free, as it appears inside ``<Assets>``, and valid against the
MTConnectAssets XSD of every version in ``SCHEMA_VERSIONS``.
"""

from __future__ import annotations

import math

from agent_sim.render_xml import SCHEMA_VERSIONS, xml_escape

__all__ = ["ASSET_TYPE", "cutting_tool_xml"]

ASSET_TYPE = "CuttingTool"
"""The ``assetType`` of the assets made here."""


def _number(value: float) -> str:
    return f"{value:.6g}"


def _status(life_remaining_pct: float) -> tuple[str, ...]:
    if life_remaining_pct <= 0.0:
        return ("EXPIRED",)
    if life_remaining_pct >= 100.0:
        return ("NEW", "AVAILABLE")
    return ("USED", "AVAILABLE")


def cutting_tool_xml(
    asset_id: str,
    device_uuid: str,
    timestamp: str,
    tool_number: int,
    life_remaining_pct: float,
    life_limit_parts: int,
    schema_version: str,
    *,
    functional_length_mm: float | None = None,
    cutting_diameter_mm: float | None = None,
) -> str:
    """A ``<CuttingTool>`` asset element for the tool ``tool_number`` of a device.

    ``ToolLife`` is of type PART_COUNT and counts DOWN: ``limit`` (the XSD's "maximum tool life") and
    ``initial`` (the life when new) are ``life_limit_parts``, the value is the parts left. The cutter status
    is NEW, USED or EXPIRED (with AVAILABLE while life remains). A ``Measurements`` block is written when a
    dimension is given: the twin does not model tool geometry, so none is invented.

    Returns:
        The element as namespace-free XML text.

    Raises:
        ValueError: an unknown schema version, a negative tool number, a limit below 1, or a life percentage
            that is not a number.
    """
    if schema_version not in SCHEMA_VERSIONS:
        raise ValueError(f"schema version {schema_version!r} is not one of {', '.join(SCHEMA_VERSIONS)}")
    if tool_number < 0:
        raise ValueError(f"tool number ({tool_number}) must not be negative")
    if life_limit_parts < 1:
        raise ValueError(f"tool life limit ({life_limit_parts} parts) must be at least 1")
    if math.isnan(life_remaining_pct):
        raise ValueError("tool life remaining (nan %) must be a number")
    pct = min(100.0, max(0.0, life_remaining_pct))
    remaining = round(life_limit_parts * pct / 100.0)
    statuses = "".join(f"<Status>{s}</Status>" for s in _status(pct))
    measurements = [
        f'<{tag} code="{code}" units="MILLIMETER">{_number(value)}</{tag}>'
        for tag, code, value in (
            ("FunctionalLength", "LF", functional_length_mm),
            ("CuttingDiameterMax", "DC", cutting_diameter_mm),
        )
        if value is not None
    ]
    measurements_xml = f"<Measurements>{''.join(measurements)}</Measurements>" if measurements else ""
    return (
        f'<CuttingTool assetId="{xml_escape(asset_id)}" deviceUuid="{xml_escape(device_uuid)}" '
        f'timestamp="{xml_escape(timestamp)}" serialNumber="{xml_escape(asset_id)}" toolId="T{tool_number}">'
        f"<CuttingToolLifeCycle><CutterStatus>{statuses}</CutterStatus>"
        f'<ToolLife type="PART_COUNT" countDirection="DOWN" initial="{life_limit_parts}" '
        f'limit="{life_limit_parts}">'
        f"{remaining}</ToolLife>"
        f"<ProgramToolNumber>{tool_number}</ProgramToolNumber>"
        f"{measurements_xml}</CuttingToolLifeCycle></CuttingTool>"
    )
